// A FAISS worker thread that dies (killed here with worker.terminate(), as a crash of that thread
// would end it) takes every index it held. The index managers reload their snapshots or rebuild
// from the store on a fresh worker; meanwhile searches fail as "recovering" (hybrid answers by
// keyword), health says so, and writes are acknowledged and found once the index serves again.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { terminateFaissWorkerForTests } from '../src/index/faiss/faiss-host.js';
import type { IndexManager, IndexStats } from '../src/index/index-manager.js';
import { MemoryError } from '../src/shared/errors.js';
import { createLogger } from '../src/shared/logger.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { startHarness, testConfig, textOf, type Harness } from './helpers/harness.js';
import { randomMemories, testIndexManager } from './helpers/index-manager.js';
import { tempDir } from './helpers/tmp.js';
import { callOk, output } from './helpers/tool-call.js';
import { rng } from './helpers/vectors.js';
import { waitFor } from './helpers/wait.js';

const DIM = 32;
const FP = `test:vectors:${DIM}`;
/** Holds the recovering state long enough for the calls a test makes meanwhile. */
const HOLD_MS = 1500;

const stateOf = (index: Pick<IndexManager, 'stats'>): IndexStats['state'] => index.stats().state;

async function rejectsWith(call: Promise<unknown>, pattern: RegExp): Promise<MemoryError> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof MemoryError, `expected a MemoryError, got ${String(err)}`);
    assert.equal(err.code, 'INDEX_UNAVAILABLE');
    assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected a rejection matching ${pattern}`);
}

describe('FAISS worker restart: index manager (real faiss-node, real SQLite)', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  let logs: string[];
  const memories = randomMemories(FP, DIM, rng(7));
  const vectors = memories.vectors;
  const opened: IndexManager[] = [];

  const manager = (extra: Partial<Parameters<typeof testIndexManager>[4]> = {}) => {
    const m = testIndexManager(store, FP, DIM, join(dir.path, 'index'), {
      logger: createLogger('debug', (line) => logs.push(line)),
      ...extra,
    });
    opened.push(m);
    return m;
  };

  const put = async (ids: string[]) => {
    await store.upsert(memories.write(ids));
  };
  const assertFindsItself = (index: IndexManager, live: readonly string[], deleted: readonly string[] = []) =>
    memories.assertFindsItself(index, live, deleted);

  const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

  beforeEach(async () => {
    dir = tempDir();
    store = new SqliteStore(join(dir.path, 'memories.db'));
    await store.open();
    logs = [];
    vectors.clear();
  });
  afterEach(async () => {
    for (const m of opened.splice(0)) await m.close();
    await store.close();
    dir.cleanup();
  });

  it('reloads its snapshot on a fresh worker; searches fail as recovering meanwhile, writes are caught up', async () => {
    await put(ids('a', 40));
    const index = manager({ recovery: { delayMs: HOLD_MS } });
    await index.open();
    await index.persist({ force: true });
    // After the snapshot: the recovery must catch these up from the change sequence.
    await put(ids('b', 5));
    await index.sync();
    await assertFindsItself(index, [...ids('a', 40), ...ids('b', 5)]);

    await terminateFaissWorkerForTests();
    assert.equal(stateOf(index), 'recovering');
    assert.match(index.stats().recovery?.reason ?? '', /^the FAISS worker stopped \(exit code 1\)$/);
    const failed = await rejectsWith(index.search([vectors.get('a0')!], 3), /^the search index is recovering: /);
    assert.match(failed.hint ?? '', /keyword search/);
    await rejectsWith(index.verify(), /recovering/);

    // Writes during the recovery: committed to the store, the catch-up does not wait for the index.
    await put(ids('c', 10));
    await store.delete(['a1']);
    const started = Date.now();
    await index.sync();
    assert.ok(Date.now() - started < 500, 'a catch-up during recovery waited for it');
    assert.equal(stateOf(index), 'recovering', 'the recovery must still be held (HOLD_MS too short here?)');

    await waitFor(() => stateOf(index) === 'ready', 20_000, 'the recovery');
    const s = index.stats();
    assert.equal(s.recoveries, 1);
    assert.equal(s.recovery, null);
    const live = [...ids('a', 40).filter((id) => id !== 'a1'), ...ids('b', 5), ...ids('c', 10)];
    await assertFindsItself(index, live, ['a1']);
    const v = await index.verify();
    assert.ok(v.ok, `verify after recovery: ${JSON.stringify(v)}`);
    assert.equal(v.storeCount, live.length);
    assert.ok(
      logs.some((l) => l.includes('search index recovered') && l.includes('"source":"snapshot"')),
      'recovered from the snapshot',
    );
  });

  it('rebuilds from the store when the snapshot is gone', async () => {
    await put(ids('a', 30));
    const index = manager();
    await index.open();
    rmSync(index.snapshotPath, { force: true });
    await terminateFaissWorkerForTests();
    assert.equal(stateOf(index), 'recovering');
    await waitFor(() => stateOf(index) === 'ready', 20_000, 'the recovery');
    await assertFindsItself(index, ids('a', 30));
    assert.ok((await index.verify()).ok);
    assert.ok(
      logs.some((l) => l.includes('search index recovered') && l.includes('"source":"rebuilt"')),
      'rebuilt from the store',
    );
  });

  it('a worker that keeps dying leaves the index failed, with a clear message, and writes still land', async () => {
    await put(ids('a', 10));
    const index = manager({ recovery: { maxFailures: 2, windowMs: 60_000, backoffMs: 20 } });
    await index.open();
    for (let loss = 1; loss <= 2; loss++) {
      await terminateFaissWorkerForTests();
      assert.equal(stateOf(index), 'recovering', `loss ${loss}`);
      await waitFor(() => stateOf(index) === 'ready', 20_000, `recovery ${loss}`);
    }
    assert.equal(index.stats().recoveries, 2);
    await terminateFaissWorkerForTests();
    assert.equal(stateOf(index), 'failed');
    assert.match(index.stats().recovery?.reason ?? '', /gave up recovering the search index: 3 failures within 60 s/);
    const err = await rejectsWith(index.search([vectors.get('a0')!], 3), /^the search index is unavailable: gave up/);
    assert.match(err.hint ?? '', /restart the server/);
    await put(ids('b', 3));
    await index.sync(); // nothing to catch up into: resolves, the write stays in the store
    assert.equal((await store.get(['b0']))[0]?.id, 'b0');

    // The process still has a FAISS worker: a new manager (as after a restart) opens and serves.
    const fresh = manager();
    await fresh.open();
    await assertFindsItself(fresh, [...ids('a', 10), ...ids('b', 3)]);
  });

  it("reloads a frozen index (the previous model's during a model change) from its snapshot", async () => {
    await put(ids('a', 20));
    const writer = manager();
    await writer.open();
    await writer.close();
    const frozen = manager({ frozen: true, recovery: { delayMs: HOLD_MS } });
    await frozen.open();
    await assertFindsItself(frozen, ids('a', 20));
    await terminateFaissWorkerForTests();
    assert.equal(stateOf(frozen), 'recovering');
    assert.equal(frozen.serving, false);
    const err = await rejectsWith(frozen.search([vectors.get('a0')!], 3), /recovering/);
    assert.match(err.hint ?? '', /previous model/);
    await waitFor(() => stateOf(frozen) === 'ready', 20_000, 'the recovery');
    await assertFindsItself(frozen, ids('a', 20));
  });
});

describe('FAISS worker restart: through an MCP client', () => {
  let dir: ReturnType<typeof tempDir>;
  let h: Harness;

  beforeEach(async () => {
    dir = tempDir();
    h = await startHarness(testConfig(dir.path, { BACKFILL_INTERVAL_MS: '0' }), {
      index: { recovery: { delayMs: 2 * HOLD_MS } },
    });
  });
  afterEach(async () => {
    await h.close();
    dir.cleanup();
  });

  it('answers by keyword, reports recovering, keeps writes, and serves them semantically once recovered', async () => {
    const texts = [
      'the staging database runs on hopper-7.corp',
      'deploys go out on tuesdays after the standup',
      'the coffee machine on floor three is broken',
    ];
    await callOk(h, 'memory_store', { items: texts.map((text) => ({ text })) });
    const index = await h.app.service.ready();
    await index.sync();

    await terminateFaissWorkerForTests();
    assert.equal(stateOf(index), 'recovering');

    const semantic = await h.call('memory_search', { query: 'staging database', mode: 'semantic' });
    assert.equal(semantic.isError, true);
    assert.match(textOf(semantic), /INDEX_UNAVAILABLE: the search index is recovering: the FAISS worker stopped/);

    const hybrid = await callOk(h, 'memory_search', { query: 'hopper-7.corp' });
    assert.equal(hybrid.results[0]?.text, texts[0]);
    assert.equal(hybrid.provider, null);
    assert.ok(
      hybrid.notes?.some((n) => /^semantic channel unavailable \(the search index is recovering/.test(n)),
      JSON.stringify(hybrid.notes),
    );

    const health = await callOk(h, 'index_health', {});
    assert.equal(health.status, 'failing');
    assert.ok(
      health.reasons.some((r) => r.code === 'index_recovering' && r.severity === 'failing'),
      JSON.stringify(health.reasons),
    );
    assert.equal(health.index?.state, 'recovering');
    assert.match(health.index?.recovery?.reason ?? '', /FAISS worker stopped/);
    assert.equal(health.index?.missing_count, null);
    assert.equal(health.recall, null);

    const stored = await callOk(h, 'memory_store', {
      items: [{ text: 'the release train leaves from platform nine on fridays' }],
    });
    assert.equal(stored.items[0]?.status, 'created');
    assert.equal(stored.items[0]?.embedding, 'done');
    assert.equal(stateOf(index), 'recovering', 'the recovery must still be held (HOLD_MS too short here?)');

    await waitFor(() => stateOf(index) === 'ready', 20_000, 'the recovery');
    const found = output(
      'memory_search',
      await h.call('memory_search', {
        query: 'the release train leaves from platform nine on fridays',
        mode: 'semantic',
        k: 1,
      }),
    );
    assert.equal(found.results[0]?.id, stored.items[0]?.id);
    const after = await callOk(h, 'index_health', {});
    assert.ok(!after.reasons.some((r) => r.code === 'index_recovering'), JSON.stringify(after.reasons));
    assert.equal(after.index?.state, 'ready');
    assert.equal(after.index?.recoveries, 1);
    assert.equal(after.index?.missing_count, 0);
    assert.equal(after.index?.extra_count, 0);
    assert.equal(after.store.embedded_current_model, 4);
  });
});
