// export and import through the built binary, on both stores: a round trip keeps ids, text,
// tags, metadata and times; a second import changes nothing; vectors of the same model are
// reused; a bad line imports nothing and names its line; the file of the official
// server-memory becomes memories that search finds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { ImportSummary } from '../src/memory/import-flow.js';
import { onBothStores, uniqueGraph } from './helpers/falkordb.js';
import { startHarness, testConfig, type Harness } from './helpers/harness.js';
import { serverMemoryEntry } from './helpers/server-memory.js';
import { childEnv, cliPath } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';
import { callOk } from './helpers/tool-call.js';

function suite(name: string, env: () => Record<string, string>): void {
  describe(`export and import (${name})`, () => {
    let dir: ReturnType<typeof tempDir>;
    // Each data directory gets its own FalkorDB graph, so "another machine" is really empty.
    const envs = new Map<string, Record<string, string>>();
    const envOf = (dataDir: string) => {
      if (!envs.has(dataDir)) {
        const e = env();
        envs.set(dataDir, 'FALKORDB_GRAPH' in e ? { ...e, FALKORDB_GRAPH: uniqueGraph('transfer') } : e);
      }
      return envs.get(dataDir)!;
    };
    const cli = (dataDir: string, ...args: string[]) =>
      spawnSync(process.execPath, [cliPath, ...args, '--data-dir', dataDir], {
        encoding: 'utf8',
        env: childEnv(dataDir, { BACKFILL_INTERVAL_MS: '0', ...envOf(dataDir) }),
      });
    const harness = (dataDir: string): Promise<Harness> =>
      startHarness(testConfig(dataDir, { BACKFILL_INTERVAL_MS: '0', ...envOf(dataDir) }));
    const everything = async (h: Harness) => {
      const page = await callOk(h, 'memory_list', { order: 'oldest', limit: 100 });
      return page.memories;
    };

    before(() => {
      dir = tempDir();
    });
    after(() => {
      dir.cleanup();
    });

    it('round-trips memories with ids and times; importing again changes nothing', async () => {
      const source = join(dir.path, 'source');
      let h = await harness(source);
      await callOk(h, 'memory_store', {
        items: Array.from({ length: 25 }, (_, i) => ({
          id: `r-${i}`,
          text: `Round trip note ${i}: the ${['red', 'green', 'blue'][i % 3]} team owns service ${i}.`,
          namespace: i < 20 ? 'work' : 'home',
          tags: [`t${i % 4}`],
          metadata: { n: i, nested: { ok: i % 2 === 0 } },
        })),
      });
      await sleep(20);
      await callOk(h, 'memory_update', { id: 'r-3', text: 'Round trip note 3, edited later.' });
      const original = await everything(h);
      await h.close();

      const file = join(dir.path, 'all.jsonl');
      const exported = cli(source, 'export', '--out', file);
      assert.equal(exported.status, 0, exported.stderr);
      assert.deepEqual(JSON.parse(exported.stdout), { exported: 25, file });
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      assert.equal(lines.length, 25);
      assert.deepEqual(Object.keys(JSON.parse(lines[0]!) as object).sort(), [
        'created_at',
        'id',
        'metadata',
        'namespace',
        'tags',
        'text',
        'updated_at',
      ]);
      const toStdout = cli(source, 'export', '--namespace', 'home');
      assert.equal(toStdout.status, 0, toStdout.stderr);
      assert.equal(toStdout.stdout.trim().split('\n').length, 5, 'one namespace, on stdout');

      const target = join(dir.path, 'target');
      const first = cli(target, 'import', file);
      assert.equal(first.status, 0, first.stderr);
      const s1 = JSON.parse(first.stdout) as ImportSummary;
      assert.equal(s1.created, 25);
      assert.equal(s1.embedded, 25);
      const again = cli(target, 'import', file);
      assert.equal(again.status, 0, again.stderr);
      const s2 = JSON.parse(again.stdout) as ImportSummary;
      assert.deepEqual([s2.created, s2.updated, s2.unchanged], [0, 0, 25], 'the second import changes nothing');

      h = await harness(target);
      const copy = await everything(h);
      assert.deepEqual(copy, original, 'ids, text, tags, metadata and both times kept');
      const found = await callOk(h, 'memory_search', { query: 'green team service', namespace: 'work', k: 3 });
      assert.ok(found.results.length > 0 && found.results.every((r) => r.text.includes('green')));
      // A memory edited here after the import is newer than the file's: a re-import keeps it.
      await callOk(h, 'memory_update', { id: 'r-5', text: 'Edited on the target after the import.' });
      await h.close();
      const third = JSON.parse(cli(target, 'import', file).stdout) as ImportSummary;
      assert.equal(third.kept_newer, 1);
      assert.equal(third.unchanged, 24);
    });

    it('with vectors of the same model, imports without embedding', async () => {
      const file = join(dir.path, 'vectors.jsonl');
      const exported = cli(join(dir.path, 'source'), 'export', '--out', file, '--with-vectors');
      assert.equal(exported.status, 0, exported.stderr);
      const line = JSON.parse(readFileSync(file, 'utf8').split('\n')[0]!) as {
        embedding: { model: string; vector: number[] };
      };
      assert.equal(line.embedding.vector.length, 384);
      assert.match(line.embedding.model, /hash/);
      const r = cli(join(dir.path, 'with-vectors'), 'import', file);
      assert.equal(r.status, 0, r.stderr);
      const s = JSON.parse(r.stdout) as ImportSummary;
      assert.deepEqual([s.created, s.vectors_reused, s.embedded], [25, 25, 0]);
      const h = await harness(join(dir.path, 'with-vectors'));
      const found = await callOk(h, 'memory_search', { query: 'blue team service', mode: 'semantic', k: 3 });
      assert.ok(found.results[0]?.text.includes('blue'), JSON.stringify(found.results[0]));
      await h.close();
    });

    it('a bad line stops the import before anything is written, and names the line', async () => {
      const good = (i: number) =>
        JSON.stringify({
          id: `b-${i}`,
          text: `fine line ${i}`,
          created_at: '2026-11-01T00:00:00.000Z',
          updated_at: '2026-11-01T00:00:00.000Z',
        });
      const target = join(dir.path, 'broken');
      const cases: [string, RegExp][] = [
        [[good(1), good(2), '{"id": "b-3", "text": ', good(4)].join('\n'), /line 3: not JSON/],
        [
          [good(1), good(2), good(3), JSON.stringify({ id: 'b-4', text: 'no times' })].join('\n'),
          /line 4: .*created_at/,
        ],
        [[good(1), good(2), JSON.stringify({ ...JSON.parse(good(3)), color: 'red' })].join('\n'), /line 3: .*color/],
        [
          [good(1), JSON.stringify({ ...JSON.parse(good(2)), text: 'x'.repeat(40_000) })].join('\n'),
          /TOO_LARGE: line 2: text has 40000 characters; the limit is/,
        ],
      ];
      for (const [content, message] of cases) {
        const file = join(dir.path, 'broken.jsonl');
        writeFileSync(file, content);
        const r = cli(target, 'import', file);
        assert.equal(r.status, 1, r.stdout);
        assert.match(r.stderr, message);
        assert.match(r.stderr, /nothing from this file was imported|limit/);
      }
      const h = await harness(target);
      assert.equal((await callOk(h, 'memory_list', { limit: 1 })).total, 0, 'nothing committed');
      await h.close();
      const missing = cli(target, 'import', join(dir.path, 'no-such-file.jsonl'));
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /cannot read/);
      const bad = cli(target, 'import', join(dir.path, 'x'), '--from', 'elsewhere');
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /--from must be vector-memory or server-memory/);
    });
  });
}

onBothStores('transfer', suite);

describe('import --from server-memory', () => {
  it('turns the official server-memory file into memories search finds, and a second import adds nothing', async () => {
    const dir = tempDir();
    try {
      // The real server writes its file.
      const graphFile = join(dir.path, 'memory.jsonl');
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [serverMemoryEntry()],
        env: { PATH: process.env['PATH'] ?? '', MEMORY_FILE_PATH: graphFile },
        stderr: 'ignore',
      });
      const client = new Client({ name: 'test', version: '1.0.0' });
      await client.connect(transport);
      await client.callTool({
        name: 'create_entities',
        arguments: {
          entities: [
            {
              name: 'Alice_Nguyen',
              entityType: 'person',
              observations: ['Prefers async standups', 'Speaks Vietnamese and French'],
            },
            { name: 'Project_Falcon', entityType: 'project', observations: ['Ships the billing rewrite in Q3'] },
            { name: 'Oslo_Office', entityType: 'place', observations: [] },
          ],
        },
      });
      await client.callTool({
        name: 'create_relations',
        arguments: { relations: [{ from: 'Alice_Nguyen', to: 'Project_Falcon', relationType: 'leads' }] },
      });
      await client.close();
      assert.match(readFileSync(graphFile, 'utf8'), /"type":"entity"/);

      const data = join(dir.path, 'data');
      const cli = (...args: string[]) =>
        spawnSync(process.execPath, [cliPath, ...args, '--data-dir', data], {
          encoding: 'utf8',
          env: childEnv(dir.path, { BACKFILL_INTERVAL_MS: '0' }),
        });
      const imported = cli('import', graphFile, '--from', 'server-memory', '--namespace', 'graph');
      assert.equal(imported.status, 0, imported.stderr);
      assert.equal(
        (JSON.parse(imported.stdout) as ImportSummary).created,
        5,
        '3 observations, 1 bare entity, 1 relation',
      );
      const again = JSON.parse(
        cli('import', graphFile, '--from', 'server-memory', '--namespace', 'graph').stdout,
      ) as ImportSummary;
      assert.deepEqual([again.created, again.unchanged], [0, 5]);
      const plain = cli('import', graphFile);
      assert.equal(plain.status, 1);
      assert.match(plain.stderr, /--from server-memory/);

      const h = await startHarness(testConfig(data, { BACKFILL_INTERVAL_MS: '0' }));
      const top = async (query: string) =>
        (await callOk(h, 'memory_search', { query, namespace: 'graph', k: 3 })).results[0];
      const lead = await top('who leads Project_Falcon');
      assert.equal(lead?.text, 'Alice_Nguyen leads Project_Falcon');
      const lang = await top('Vietnamese');
      assert.equal(lang?.text, 'Alice_Nguyen: Speaks Vietnamese and French');
      assert.deepEqual(lang?.tags, ['person']);
      assert.equal(lang?.metadata['entity'], 'Alice_Nguyen');
      assert.equal(lang?.metadata['source'], 'server-memory');
      assert.equal((await top('Oslo_Office'))?.text, 'Oslo_Office (place)');
      await h.close();
    } finally {
      dir.cleanup();
    }
  });
});
