// The bench at tiny sizes (`npm run bench -- --smoke`), so that it cannot rot: every scenario
// runs end to end and reports finite figures next to its reference.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { tempDir } from './helpers/tmp.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('bench smoke run', { timeout: 600_000 }, () => {
  it('runs every scenario at tiny sizes and prints the table and the JSON', () => {
    const dir = tempDir();
    try {
      const out = join(dir.path, 'bench.json');
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--json', out], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
        timeout: 540_000,
      });
      assert.equal(r.status, 0, `bench failed:\n${r.stderr.slice(-3000)}`);
      assert.match(r.stdout, /scenario\s+size\s+figure\s+ours\s+reference\s+ours\/ref/);
      const { rows } = JSON.parse(readFileSync(out, 'utf8')) as {
        rows: { scenario: string; ours: number; reference: number; ratio: number; answered: string }[];
      };
      for (const family of [
        'store (batches of 100)',
        'search via MCP, semantic mode, sequential',
        'search via MCP, hybrid (default) vs semantic only',
        'search via MCP, keyword only vs semantic only',
        '100 concurrent searches',
        'cold start: initialize',
        'cold start: first search',
        'search via MCP over stdio',
        'resident memory',
        'exact search, one query',
        'index build from the store, Flat',
        'rebuild while serving',
        'index build, IVF',
        'recall@10 vs exact',
        'search over stdio: ours',
        'store in batches of 100 over stdio',
        'backfill, sqlite',
        'backfill, falkordb',
        'search index falkordb: spawn to first search',
        'search index falkordb: search over stdio, semantic',
        'search index falkordb: resident memory',
        'word vectors',
      ]) {
        const found = rows.filter((x) => x.scenario.startsWith(family));
        assert.ok(found.length > 0, `no "${family}" row`);
        for (const x of found) {
          assert.ok(Number.isFinite(x.ours) && Number.isFinite(x.reference) && x.reference > 0, JSON.stringify(x));
        }
      }
      // Every row through our server pins its provider (hash; the word-vector rows word-vectors) and says what
      // answered: never another model.
      for (const x of rows) {
        if (x.scenario.startsWith('word vectors')) {
          assert.match(x.answered, /^word-vectors:/, `${x.scenario} answered by ${x.answered}`);
        } else if (/via MCP|over stdio|cold start|store \(batches|concurrent|backfill|search index/.test(x.scenario)) {
          assert.match(x.answered, /^hash:/, `${x.scenario} answered by ${x.answered}`);
        }
      }
      // At this size the IVF plan is IVF76 over 3,000 clustered vectors; it must have been kept and be accurate.
      const recall = rows.find((x) => x.scenario.startsWith('recall@10 vs exact'))!;
      assert.match(recall.scenario, /IVF\d+ nprobe \d+/);
      assert.ok(recall.ours >= 0.95, JSON.stringify(recall));
    } finally {
      dir.cleanup();
    }
  });
});
