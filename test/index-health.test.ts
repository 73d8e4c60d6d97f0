// index_health reasons, index_repair modes, and the faiss calls that must never crash the server.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import Database from 'better-sqlite3';
import { HashEmbeddingProvider } from '../src/embeddings/hash-provider.js';
import { healthReport } from '../src/health/health-report.js';
import { readSnapshotFileAsync } from '../src/index/snapshot/snapshot.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { startHarness, testConfig, textOf, type Harness } from './helpers/harness.js';
import { childEnv, cliPath } from './helpers/spawn-server.js';
import { testIndexManager } from './helpers/index-manager.js';
import { swapMappedIds } from './helpers/snapshot-damage.js';
import { tempDir } from './helpers/tmp.js';
import { callOk, output } from './helpers/tool-call.js';

interface Health {
  status: 'ok' | 'degraded' | 'failing';
  reasons: { code: string; severity: string }[];
  recall: { recall_at_10: number } | null;
  index: { missing_count: number; extra_count: number } | null;
}

describe('index health and repair', () => {
  let dir: ReturnType<typeof tempDir>;
  let h: Harness;
  const hash = new HashEmbeddingProvider();
  const health = () => callOk(h, 'index_health', {});
  const codes = async () => (await health()).reasons.map((r) => r.code);
  const raw = () => new Database(join(dir.path, 'memories.db'));
  const blob = (text: string) => Buffer.from(hash.embedOne(text).buffer);
  /** A memory waiting for its embedding, written behind the server's back. */
  const insertPending = () => {
    const db = raw();
    db.prepare(
      `INSERT INTO memories (id, namespace, text, content_hash, metadata, tags, created_at, updated_at, seq, embedding_status)
       VALUES ('waiting', 'default', 'not embedded yet', 'x', '{}', '[]', 'now', 'now', 100001, 'pending')`,
    ).run();
    db.close();
  };

  beforeEach(async () => {
    dir = tempDir();
    h = await startHarness(testConfig(dir.path, { MEMORY_MAX_MEMORIES: '40', BACKFILL_INTERVAL_MS: '0' }));
    await h.call('memory_store', {
      items: Array.from({ length: 20 }, (_, i) => ({ id: `m${i}`, text: `health check memory number ${i}` })),
    });
    // The index opens in the background (a store does not wait for it; the next search catches it
    // up): these tests start from an open index that holds the 20.
    await (await h.app.service.ready()).sync();
  });
  afterEach(async () => {
    await h.close();
    dir.cleanup();
  });

  it('is ok when index and store agree', async () => {
    const r = await health();
    assert.equal(r.status, 'ok', JSON.stringify(r.reasons));
    assert.equal(r.recall?.recall_at_10, 1);
  });

  it('measures recall of a large index in the background and reuses the measurement', async () => {
    // (An index above the inline size: here every index, by setting that size to 0.)
    const report = () => healthReport({ ...h.app.health(), recallInlineFloats: 0 });
    const first = await report();
    assert.equal(first.recall?.recall_at_10, null);
    assert.match(first.recall?.note ?? '', /being measured in the background/);
    assert.equal(first.status, 'ok', 'recall not measured yet is not a failure');
    const deadline = Date.now() + 10_000;
    let r = first;
    while (r.recall?.recall_at_10 === null && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      r = await report();
    }
    assert.equal(r.recall?.recall_at_10, 1);
    assert.equal(r.recall?.note, undefined);
    const at = r.recall?.measured_at;
    assert.ok(at);
    assert.equal((await report()).recall?.measured_at, at, 'the measurement is reused');
    // Another index shape (a rebuild) is measured again.
    await callOk(h, 'index_repair', { mode: 'rebuild' });
    assert.match((await report()).recall?.note ?? '', /being measured/);
  });

  it('a damaged keyword index turns it degraded; repair "sync" rebuilds it and keyword search finds everything again', async () => {
    const db = raw();
    db.exec('DELETE FROM memories_fts WHERE rowid IN (SELECT rowid FROM memories LIMIT 1)');
    db.close();
    const r = await health();
    assert.ok(
      r.reasons.some((x) => x.code === 'keyword_index_mismatch'),
      JSON.stringify(r.reasons),
    );
    assert.equal(r.keyword?.missing_count, 1);
    assert.equal(r.status, 'degraded');
    const repaired = output('index_repair', await h.call('index_repair', { mode: 'sync' }));
    assert.deepEqual(repaired.keyword, { missing: 1, extra: 0, rebuilt: true });
    assert.equal((await health()).status, 'ok');
    const found = await callOk(h, 'memory_search', { query: 'health check memory', mode: 'keyword', k: 50 });
    assert.equal(found.results.length, 20);
  });

  it('missing vectors turn it degraded; repair "sync" adds them', async () => {
    const db = raw();
    // A row restored from an old backup: embedded, but below the sequence the index already applied.
    db.prepare(
      `INSERT INTO memories (id, namespace, text, content_hash, metadata, tags, created_at, updated_at, seq, embedding, embedding_fingerprint, embedding_status)
       VALUES ('restored', 'default', 'restored from a backup', 'x', '{}', '[]', 'now', 'now', -1, ?, 'hash:feature-hash-v1:384', 'done')`,
    ).run(blob('restored from a backup'));
    db.close();
    assert.ok((await codes()).includes('missing_vectors'));
    assert.equal((await health()).status, 'degraded');
    const dry = await callOk(h, 'index_repair', { mode: 'sync', dry_run: true });
    assert.equal(dry.plan.add, 1);
    assert.equal(dry.after, null, 'dry run changes nothing');
    assert.ok((await codes()).includes('missing_vectors'));
    const fixed = await callOk(h, 'index_repair', { mode: 'sync' });
    assert.equal(fixed.after?.missing, 0);
    assert.equal((await health()).status, 'ok');
    const found = await callOk(h, 'memory_search', { query: 'restored from a backup', k: 1 });
    assert.equal(found.results[0]?.id, 'restored');
  });

  it('extra vectors turn it degraded; repair "sync" drops them', async () => {
    const db = raw();
    db.prepare(`DELETE FROM memories WHERE id = 'm3'`).run(); // deleted behind the server's back, no deletion logged
    db.close();
    assert.ok((await codes()).includes('extra_vectors'));
    await h.call('index_repair', { mode: 'sync' });
    assert.equal((await health()).status, 'ok');
  });

  it('vectors of another model turn it degraded (model migration)', async () => {
    const db = raw();
    db.prepare(
      `INSERT INTO memories (id, namespace, text, content_hash, metadata, tags, created_at, updated_at, seq, embedding, embedding_fingerprint, embedding_status)
       VALUES ('old-model', 'default', 'embedded by another model', 'x', '{}', '[]', 'now', 'now', 100000, ?, 'openai:other:384', 'done')`,
    ).run(blob('embedded by another model'));
    db.close();
    const r = await health();
    assert.ok(r.reasons.some((x) => x.code === 'model_migration'));
    assert.equal(r.status, 'degraded');
  });

  it('low recall turns it failing; repair "rebuild" restores it', async () => {
    // A snapshot whose id map maps each id to another memory's vector: well-formed, same ids.
    const snapshot = h.app.service.openIndex!.stats().snapshotPath!;
    await h.close();
    await swapMappedIds(snapshot, 10);
    h = await startHarness(testConfig(dir.path, { MEMORY_MAX_MEMORIES: '40', BACKFILL_INTERVAL_MS: '0' }));
    assert.equal((await h.app.service.ready()).stats().lastOpen?.source, 'snapshot');
    const r = await health();
    assert.ok(
      r.reasons.some((x) => x.code === 'low_recall' && x.severity === 'failing'),
      JSON.stringify(r.reasons),
    );
    assert.equal(r.status, 'failing');
    assert.ok((r.recall?.recall_at_10 ?? 1) < 0.95);
    const rebuilt = await h.call('index_repair', { mode: 'rebuild' });
    assert.equal(rebuilt.isError, undefined, textOf(rebuilt));
    assert.equal((await health()).status, 'ok');
  });

  it('an IVF index refused for its data turns it degraded and says why; the index stays exact', async () => {
    await h.close();
    dir.cleanup();
    dir = tempDir();
    h = await startHarness(testConfig(dir.path, { MEMORY_IVF_MIN_VECTORS: '1000', BACKFILL_INTERVAL_MS: '0' }));
    // 1,200 memories but only 100 distinct texts (the same text in 12 namespaces is not a
    // duplicate): IVF30 needs 1,170 distinct training vectors.
    for (let b = 0; b < 6; b++) {
      const r = await h.call('memory_store', {
        items: Array.from({ length: 200 }, (_, i) => ({
          text: `repeated note ${(b * 200 + i) % 100}`,
          namespace: `copy-${Math.floor((b * 200 + i) / 100)}`,
        })),
      });
      assert.equal(r.isError, undefined, textOf(r));
    }
    await h.call('index_repair', { mode: 'rebuild' });
    const r = await callOk(h, 'index_health', {});
    assert.equal(r.index?.type, 'Flat');
    assert.equal(r.index?.last_training_attempt?.outcome, 'refused');
    assert.ok(
      r.reasons.some((x) => x.code === 'ivf_refused' && x.severity === 'degraded'),
      JSON.stringify(r.reasons),
    );
    assert.equal(r.status, 'degraded');
    assert.equal(r.recall?.recall_at_10, 1);
  });

  it('pending embeddings turn it degraded', async () => {
    insertPending();
    assert.ok((await codes()).includes('pending_embeddings'));
  });

  it('the size limit: near turns it degraded, reached turns it failing, and stores beyond it are refused', async () => {
    await h.call('memory_store', { items: Array.from({ length: 12 }, (_, i) => ({ text: `filler ${i}` })) });
    let r = await health();
    assert.ok(
      r.reasons.some((x) => x.code === 'memories_limit_near'),
      JSON.stringify(r.reasons),
    );
    await h.call('memory_store', { items: Array.from({ length: 8 }, (_, i) => ({ text: `more filler ${i}` })) });
    r = await health();
    assert.ok(r.reasons.some((x) => x.code === 'memories_limit_reached' && x.severity === 'failing'));
    const refused = await h.call('memory_store', { text: 'one too many' });
    assert.equal(refused.isError, true);
    assert.match(textOf(refused), /TOO_LARGE: the store holds 40 memories.*MEMORY_MAX_MEMORIES/);
    const update = await h.call('memory_update', { id: 'm1', text: 'changing an existing memory is fine' });
    assert.equal(update.isError, undefined, `updating does not add: ${textOf(update)}`);
    const retry = await h.call('memory_store', { text: 'more filler 3' });
    assert.equal(output('memory_store', retry).items[0]?.status, 'duplicate', 'a retried store adds nothing');
  });

  it('the CLI: health exits 1 when not ok, 0 when ok; repair runs each mode', async () => {
    await h.close();
    insertPending();
    const env = childEnv(dir.path, { BACKFILL_INTERVAL_MS: '0' });
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [cliPath, ...args, '--data-dir', dir.path], { encoding: 'utf8', env });
    const sick = cli('health');
    assert.equal(sick.status, 1, sick.stderr);
    const report = JSON.parse(sick.stdout) as Health;
    assert.equal(report.status, 'degraded');
    assert.ok(report.reasons.some((r) => r.code === 'pending_embeddings'));
    for (const mode of ['verify', 'sync', 'rebuild']) {
      const r = cli('repair', '--mode', mode);
      assert.equal(r.status, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { mode: string }).mode, mode);
    }
    const dry = cli('repair', '--mode', 'rebuild', '--dry-run');
    assert.equal((JSON.parse(dry.stdout) as { plan: { rebuild_vectors: number } }).plan.rebuild_vectors, 20);
    const db2 = raw();
    db2.prepare(`DELETE FROM memories WHERE id = 'waiting'`).run();
    db2.close();
    const well = cli('health');
    assert.equal(well.status, 0, well.stdout);
    h = await startHarness(testConfig(dir.path));
  });
});

describe('rebuild while serving', () => {
  it(
    'keeps answering searches during a rebuild of 30,000 vectors; reports the maximum event-loop lag',
    { timeout: 300_000 },
    async (t) => {
      const dir = tempDir();
      const h = await startHarness(testConfig(dir.path, { BACKFILL_INTERVAL_MS: '0' }));
      try {
        for (let b = 0; b < 120; b++) {
          const stored = await h.call('memory_store', {
            items: Array.from({ length: 250 }, (_, i) => ({ text: `rebuild corpus ${b} ${i} alpha beta` })),
          });
          assert.equal(stored.isError, undefined, textOf(stored));
        }
        const startedAt = Date.now();
        const lag = monitorEventLoopDelay({ resolution: 5 });
        lag.enable();
        const progress: number[] = [];
        const rebuilding = h.client.callTool({ name: 'index_repair', arguments: { mode: 'rebuild' } }, undefined, {
          onprogress: (p) => progress.push(p.progress),
          timeout: 300_000,
        });
        let answered = 0;
        let done = false;
        void rebuilding.finally(() => (done = true));
        while (!done) {
          const r = await h.call('memory_search', { query: 'rebuild corpus 7 7 alpha', k: 3 });
          assert.equal(r.isError, undefined, textOf(r));
          answered++;
          // Give timers a turn, as a server with real sockets does: the lag monitor is one.
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        const result = output('index_repair', (await rebuilding) as CallToolResult);
        await new Promise((resolve) => setTimeout(resolve, 20));
        lag.disable();
        const maxMs = lag.max / 1e6;
        t.diagnostic(`lag samples ${lag.count}, elapsed ${Date.now() - startedAt} ms`);
        assert.ok(lag.count > 10, 'the lag monitor sampled during the rebuild');
        assert.ok(maxMs < 2000, `no stall of seconds (max ${maxMs} ms)`);
        t.diagnostic(
          `rebuild of 30,000 vectors (d=384): ${answered} searches answered meanwhile; max event-loop lag ${maxMs.toFixed(1)} ms`,
        );
        assert.equal(result.after?.index_count, 30_000);
        assert.equal(result.after!.missing + result.after!.extra, 0);
        assert.ok(answered >= 3, `searches were answered during the rebuild (${answered})`);
        assert.ok(progress.length > 10, 'progress was reported');
      } finally {
        await h.close();
        dir.cleanup();
      }
    },
  );
});

describe('never crash on faiss', () => {
  it('k = 0, an empty index, a wrong-dimension stored vector, and a deleted index folder leave the server running', async () => {
    const dir = tempDir();
    const h = await startHarness(testConfig(dir.path, { BACKFILL_INTERVAL_MS: '0' }));
    try {
      const index = await h.app.service.ready();
      assert.deepEqual(await index.search([new Float32Array(384)], 0), [[]], 'k = 0 never reaches faiss');
      assert.deepEqual(await index.search([new Float32Array(384)], 10), [[]], 'an empty index answers nothing');
      const db = new Database(join(dir.path, 'memories.db'));
      db.prepare(
        `INSERT INTO memories (id, namespace, text, content_hash, metadata, tags, created_at, updated_at, seq, embedding, embedding_fingerprint, embedding_status)
         VALUES ('bad-dim', 'default', 'wrong dimension', 'x', '{}', '[]', 'now', 'now', 100, ?, 'hash:feature-hash-v1:384', 'done')`,
      ).run(Buffer.from(new Float32Array(7).buffer));
      db.prepare(`UPDATE sequence SET value = 100`).run();
      db.close();
      const r = await h.call('memory_search', { query: 'wrong dimension' });
      assert.equal(r.isError, undefined, textOf(r));
      await h.call('memory_store', { text: 'after the bad vector' });
      rmSync(join(dir.path, 'index'), { recursive: true, force: true });
      await index.persist();
      assert.ok(existsSync(index.stats().snapshotPath!), 'the folder was made again instead of faiss aborting');
      assert.ok((await h.client.listTools()).tools.length > 0, 'still running');
    } finally {
      await h.close();
      dir.cleanup();
    }
  });
});

describe('snapshot writes interrupted by kill -9', () => {
  it('leave the old or the new snapshot loadable, never a torn one', { timeout: 180_000 }, async (t) => {
    const dir = tempDir();
    const script = fileURLToPath(new URL('./fixtures/persist-loop.ts', import.meta.url));
    const rounds = 8;
    for (let round = 0; round < rounds; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', script, dir.path], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('exit', (code, signal) => {
        if (signal !== 'SIGKILL') process.stderr.write(`persist-loop exited ${code}: ${stderr}\n`);
      });
      await new Promise<void>((resolve) =>
        child.stdout.on('data', (c: Buffer) => c.toString().includes('ready') && resolve()),
      );
      await new Promise((r) => setTimeout(r, 5 + round * 23));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
      const snap = join(dir.path, 'index', 'test_kill_64.snapshot');
      assert.ok(existsSync(snap), 'a snapshot exists');
      // Throws when the file is torn (checksum, magic, lengths).
      assert.equal((await readSnapshotFileAsync(snap)).header.count, 20_000, `round ${round}`);
    }
    // A temporary file of a dead writer (some kills leave one; plant one to be sure) goes on the next open.
    const indexDir = join(dir.path, 'index');
    writeFileSync(join(indexDir, '.test_kill_64.snapshot.999999999.1.tmp'), 'half a snapshot');
    const left = readdirSync(indexDir).filter((f) => f.endsWith('.tmp')).length;
    const store = new SqliteStore(join(dir.path, 'm.db'));
    await store.open();
    const index = testIndexManager(store, 'test:kill:64', 64, indexDir);
    const report = await index.open();
    await index.close();
    await store.close();
    assert.equal(report.source, 'snapshot', 'the last snapshot written loads as it is');
    assert.deepEqual(
      readdirSync(indexDir).filter((f) => f.endsWith('.tmp')),
      [],
      'temporary files of dead writers removed',
    );
    t.diagnostic(
      `${rounds} kills during snapshot writes: every snapshot left loaded; ${left} temporary files (one planted) removed on the next open`,
    );
    dir.cleanup();
  });
});
