import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { IndexManager } from '../src/index/index-manager.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { HostedIndex } from '../src/index/faiss/faiss-host.js';
import { IndexState } from '../src/index/index-state.js';
import { silentLogger } from '../src/shared/logger.js';
import { heldByAnother } from '../src/index/snapshot/persist-lock.js';
import { openSnapshot } from '../src/index/snapshot/snapshot.js';
import { randomMemories, testIndexManager } from './helpers/index-manager.js';
import { tempDir } from './helpers/tmp.js';
import { randomUnitVector, rng } from './helpers/vectors.js';

const DIM = 32;
const FP = `test:vectors:${DIM}`;

describe('index manager (real faiss-node, real SQLite)', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  const next = rng(42);
  const memories = randomMemories(FP, DIM, next);
  const vectors = memories.vectors;

  const manager = (extra: Partial<ConstructorParameters<typeof IndexManager>[0]> = {}) =>
    testIndexManager(store, FP, DIM, join(dir.path, 'index'), extra);

  const put = async (ids: string[], textPrefix = 'text') => {
    await store.upsert(memories.write(ids, (id) => `${textPrefix} ${id} ${next()}`));
  };

  /** Every live memory's own vector finds itself first; nothing deleted is ever returned. */
  const assertSelfQueries = (index: IndexManager, live: Set<string>, deleted: Set<string>) =>
    memories.assertFindsItself(index, live, deleted);

  beforeEach(async () => {
    dir = tempDir();
    store = new SqliteStore(join(dir.path, 'memories.db'));
    await store.open();
    vectors.clear();
  });
  afterEach(async () => {
    await store.close();
    dir.cleanup();
  });

  it('keeps ids right through add / update / delete / re-add cycles, compactions included', async () => {
    const index = manager({ compactMin: 10, compactRatio: 0.1 });
    await index.open();
    const live = new Set<string>();
    const deleted = new Set<string>();
    const all = Array.from({ length: 120 }, (_, i) => `m${i}`);
    const pick = () => all[Math.floor(next() * all.length)]!;
    for (let round = 0; round < 6; round++) {
      const toAdd = [...new Set(Array.from({ length: 40 }, pick))];
      await put(toAdd);
      for (const id of toAdd) {
        live.add(id);
        deleted.delete(id);
      }
      const toDelete = [...new Set(Array.from({ length: 25 }, pick))];
      const gone = await store.delete(toDelete);
      for (const id of gone) {
        live.delete(id);
        deleted.add(id);
      }
      await assertSelfQueries(index, live, deleted);
      const stats = index.stats();
      assert.equal(stats.vectors, stats.live + stats.tombstones);
    }
    assert.ok(index.stats().compactions > 0, 'the cycles compacted the index at least once');
    const verify = await index.verify();
    assert.equal(verify.ok, true, JSON.stringify(verify));
    await index.close();
  });

  it('leaves the snapshot to another process that holds its lock, and writes it once the lock is free', async () => {
    const index = manager();
    await index.open();
    await put(['l1', 'l2']);
    await index.sync();
    const lock = `${index.snapshotPath}.lock`;
    // The parent process (the test runner) stands for another live server on this host.
    const other = { pid: process.ppid, host: hostname(), at: Date.now(), token: 'other' };
    writeFileSync(lock, JSON.stringify(other));
    assert.equal(heldByAnother(lock, 60_000)?.pid, process.ppid);
    const before = statSync(index.snapshotPath).mtimeMs;
    await index.persist({ force: true });
    assert.equal(index.stats().persistSkipped, 1);
    assert.equal(statSync(index.snapshotPath).mtimeMs, before, 'the snapshot was left alone');
    assert.deepEqual(
      readdirSync(dirname(index.snapshotPath)).filter((f) => f.endsWith('.tmp')),
      [],
    );
    writeFileSync(lock, JSON.stringify({ ...other, pid: process.pid, token: 'mine' }));
    assert.equal(heldByAnother(lock, 60_000), null, 'our own pid is not another holder');
    rmSync(lock);
    await index.persist({ force: true });
    assert.equal(index.stats().lastPersistSeq, await store.headSeq(), 'written once the lock is free');
    await index.close();
  });

  it('changing only metadata does not add a vector; changing the text replaces it', async () => {
    const index = manager();
    await index.open();
    await put(['a']);
    await index.sync();
    assert.equal(index.stats().vectors, 1);
    await store.patch('a', { metadata: { x: 1 } });
    await index.sync();
    assert.equal(index.stats().vectors, 1, 'no new vector for a metadata change');
    const v = randomUnitVector(DIM, next);
    vectors.set('a', v);
    await store.patch('a', { text: 'new text', embedding: { vector: v, fingerprint: FP } });
    await assertSelfQueries(index, new Set(['a']), new Set());
    assert.equal(index.stats().tombstones, 1);
  });

  it('ignores vectors of another model and memories without an embedding', async () => {
    const index = manager();
    await index.open();
    await put(['a']);
    await store.upsert([
      {
        id: 'other',
        namespace: 'default',
        text: 'o',
        metadata: {},
        tags: [],
        embedding: { vector: Float32Array.from([1, 0]), fingerprint: 'other:2' },
      },
      { id: 'pending', namespace: 'default', text: 'p', metadata: {}, tags: [], embedding: null },
    ]);
    const [hits] = await index.search([vectors.get('a')!], 10);
    assert.deepEqual(
      hits!.map((h) => h.id),
      ['a'],
    );
  });

  it('answers an empty index and k larger than the index without touching faiss badly', async () => {
    const index = manager();
    await index.open();
    assert.deepEqual(await index.search([randomUnitVector(DIM, next)], 10), [[]]);
    await put(['a', 'b']);
    const [hits] = await index.search([vectors.get('a')!], 50);
    assert.equal(hits!.length, 2);
    assert.deepEqual(await index.search([vectors.get('a')!], 0), [[]]);
  });

  it('answers searches arriving together with one FAISS call, each caller getting its own results', async () => {
    const index = manager();
    await index.open();
    const ids = Array.from({ length: 300 }, (_, i) => `b${i}`);
    await put(ids);
    const picked = ids.filter((_, i) => i % 10 === 0); // 30 callers: a BLAS-sized batch
    const alone: string[][] = [];
    for (const id of picked.slice(0, 7)) alone.push((await index.search([vectors.get(id)!], 5))[0]!.map((h) => h.id));
    const before = index.stats();
    const together = await Promise.all(
      picked.map((id, i) => index.search([vectors.get(id)!], 1 + (i % 7))), // every caller its own k
    );
    const after = index.stats();
    assert.equal(after.searchCalls - before.searchCalls, picked.length);
    assert.equal(after.searchBatches - before.searchBatches, 1, 'one FAISS call for the whole batch');
    together.forEach(([hits], i) => {
      assert.equal(hits!.length, 1 + (i % 7), `caller ${i} got k results`);
      assert.equal(hits![0]!.id, picked[i], `caller ${i} got its own nearest`);
    });
    // A small batch (padded up to BLAS size inside the adapter) answers exactly what single searches do.
    const small = await Promise.all(picked.slice(0, 7).map((id) => index.search([vectors.get(id)!], 5)));
    assert.deepEqual(
      small.map(([hits]) => hits!.map((h) => h.id)),
      alone,
    );
    // A query of the wrong dimension fails alone; the batch it arrived with is answered.
    const mixed = await Promise.allSettled([
      index.search([vectors.get('b1')!], 1),
      index.search([new Float32Array(DIM + 1)], 1),
      index.search([vectors.get('b2')!], 1),
    ]);
    assert.deepEqual(
      mixed.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.equal((mixed[2] as PromiseFulfilledResult<{ id: string }[][]>).value[0]![0]!.id, 'b2');
  });

  it('appends a Flat snapshot to its last one without the FAISS worker, byte for byte what faiss writes', async () => {
    const writes = { n: 0 };
    const original = HostedIndex.prototype.writeFile;
    HostedIndex.prototype.writeFile = function (this: HostedIndex, path: string) {
      writes.n++;
      return original.call(this, path);
    };
    try {
      const live = new Set<string>();
      const add = async (ids: string[]) => {
        await put(ids);
        for (const id of ids) live.add(id);
        await index.sync();
      };
      /** Persists, then checks the file holds every vector the index holds (tombstones included). */
      const persist = async (options: { force?: boolean } = {}) => {
        await index.persist(options);
        const snap = await openSnapshot(path);
        await snap.file.close();
        assert.equal(snap.header.count, index.stats().vectors, 'the snapshot holds the whole index');
      };
      const faissPart = async (path: string) => {
        const snap = await openSnapshot(path);
        await snap.file.close();
        return readFileSync(path).subarray(0, snap.faissLength);
      };
      let index = manager({ compactMin: 20, compactRatio: 0.1 });
      await index.open();
      const path = index.snapshotPath;
      assert.equal(writes.n, 1, 'an open without a snapshot writes one, by faiss (here empty)');
      await add(Array.from({ length: 200 }, (_, i) => `a${i}`));
      await persist();
      assert.equal(writes.n, 1, 'the next ones are appended to it, not written by the worker');
      const older = readFileSync(path);

      await add(Array.from({ length: 50 }, (_, i) => `b${i}`));
      await store.delete(['a1', 'a2', 'a3']); // tombstones: faiss keeps the vectors, the map drops them
      for (const id of ['a1', 'a2', 'a3']) live.delete(id);
      await index.sync();
      await persist();
      assert.equal(writes.n, 1, 'tombstones change the map only: appended too');
      const appended = await faissPart(path);
      rmSync(path); // nothing to append to: faiss writes it in full, captured again
      await persist({ force: true });
      assert.equal(writes.n, 2);
      assert.ok(appended.equals(await faissPart(path)), 'the appended index part is the one faiss writes');

      await add(['c1', 'c2']);
      writeFileSync(path, older); // another process's snapshot (here an older one) replaced ours
      await persist();
      assert.equal(writes.n, 3, 'a file that is not the one written last is not appended to');
      await add(['c3']);
      await persist();
      assert.equal(writes.n, 3, 'and appending resumes after');
      const damaged = readFileSync(path);
      damaged[1000]! ^= 1; // one bit of a vector
      writeFileSync(path, damaged);
      await add(['c4']);
      await persist();
      assert.equal(writes.n, 4, 'a damaged file is not appended to (its checksum no longer matches)');

      const gone = Array.from({ length: 40 }, (_, i) => `a${100 + i}`);
      await store.delete(gone); // enough tombstones to compact: labels shift, the file is no prefix
      for (const id of gone) live.delete(id);
      await index.sync();
      assert.ok(index.stats().compactions > 0, 'compacted');
      await persist();
      assert.equal(writes.n, 5, 'after a compaction faiss writes it in full');
      await add(['d1']);
      const queries = Array.from({ length: 10 }, () => randomUnitVector(DIM, next));
      const expected = (await index.search(queries, 10)).map((hits) => hits.map((h) => h.id));
      await index.close(); // (close appends too)
      assert.equal(writes.n, 5);

      index = manager();
      assert.equal((await index.open()).source, 'snapshot');
      assert.deepEqual(
        (await index.search(queries, 10)).map((hits) => hits.map((h) => h.id)),
        expected,
      );
      await assertSelfQueries(index, live, new Set(['a1', ...gone]));
      await index.close();
    } finally {
      HostedIndex.prototype.writeFile = original;
    }
  });

  it('never appends to a snapshot captured before a compaction (labels shifted since)', async () => {
    const s = new IndexState(FP, DIM);
    const entries = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ id: `x${from + i}`, vector: randomUnitVector(DIM, next), hash: 'h' }));
    await s.add(entries(0, 30));
    const base = { rows: 30, faissLength: 45 + 30 * DIM * 4, digest: Buffer.alloc(32) };
    const before = s.compactions;
    for (let i = 0; i < 10; i++) s.tombstone(`x${i}`);
    await s.compact(silentLogger);
    s.keepAfter(s.index.size); // a full write of the 20 left is captured, and 20 more come
    await s.add(entries(30, 20)); // 40 vectors now: more than the 30 of the stale capture
    s.snapshotted(base, before); // a write captured before the compaction lands after it
    assert.equal(s.appendable(s.index.size), null);
    s.snapshotted({ ...base, rows: 40 }, s.compactions);
    await s.add(entries(50, 5));
    const plan = s.appendable(s.index.size);
    assert.equal(
      plan?.rows.reduce((n, r) => n + r.length, 0),
      5 * DIM,
      'after it, the vectors added since are kept',
    );
    s.release();
  });

  describe('restart', () => {
    const live = new Set<string>();
    let expected: string[][];
    let queries: Float32Array[];

    beforeEach(async () => {
      live.clear();
      const index = manager();
      const first = await index.open();
      assert.equal(first.source, 'rebuilt');
      await put(Array.from({ length: 200 }, (_, i) => `r${i}`));
      await store.delete(['r5', 'r6', 'r7']);
      for (let i = 0; i < 200; i++) if (![5, 6, 7].includes(i)) live.add(`r${i}`);
      queries = Array.from({ length: 20 }, () => randomUnitVector(DIM, next));
      expected = (await index.search(queries, 10)).map((hits) => hits.map((h) => h.id));
      await index.close();
    });

    const reopenAndCompare = async (source: 'snapshot' | 'rebuilt', reason?: RegExp) => {
      const index = manager();
      const report = await index.open();
      assert.equal(report.source, source, JSON.stringify(report));
      if (reason) assert.match(report.reason ?? '', reason);
      const got = (await index.search(queries, 10)).map((hits) => hits.map((h) => h.id));
      assert.deepEqual(got, expected);
      await assertSelfQueries(index, live, new Set(['r5', 'r6', 'r7']));
      await index.close();
      return index;
    };

    it('loads the snapshot when it matches the store', async () => {
      await reopenAndCompare('snapshot');
    });

    it('catches up with changes made while it was closed', async () => {
      await put(['late1', 'late2']);
      await store.delete(['r10']);
      live.add('late1').add('late2');
      live.delete('r10');
      const index = manager();
      const report = await index.open();
      assert.equal(report.source, 'snapshot');
      await assertSelfQueries(index, live, new Set(['r10']));
      await index.close();
    });

    it('serves a snapshot whose counts and sample agree at once, and repairs an id it lacks in the background', async () => {
      // Renamed in the database behind the sequence's back: no change for a catch-up to apply, the
      // counts still agree, and the last memory is not in the sample checked before serving.
      await store.close();
      const raw = new Database(join(dir.path, 'memories.db'));
      raw.prepare("UPDATE memories SET id = 'renamed' WHERE id = 'r199'").run();
      raw.close();
      store = new SqliteStore(join(dir.path, 'memories.db'));
      await store.open();
      const index = manager();
      const report = await index.open();
      assert.equal(report.source, 'snapshot', JSON.stringify(report));
      assert.match(report.proof ?? '', /ids being compared/);
      const deadline = Date.now() + 15_000;
      while (/being compared/.test(index.stats().lastOpen?.proof ?? '') && Date.now() < deadline) await sleep(20);
      assert.match(index.stats().lastOpen?.proof ?? '', /1 missing and 1 extra .*repaired \(1 added, 1 dropped\)/);
      live.delete('r199');
      live.add('renamed');
      vectors.set('renamed', vectors.get('r199')!);
      await assertSelfQueries(index, live, new Set(['r5', 'r6', 'r7', 'r199']));
      assert.equal((await index.verify()).ok, true);
      await index.close();
    });

    it('proves a matching snapshot id by id in the background', async () => {
      const index = manager();
      const report = await index.open();
      assert.match(report.proof ?? '', /ids being compared/);
      const deadline = Date.now() + 15_000;
      while (/being compared/.test(index.stats().lastOpen?.proof ?? '') && Date.now() < deadline) await sleep(20);
      assert.match(index.stats().lastOpen?.proof ?? '', /^ids \(compared in the background/);
      await index.close();
    });

    it('rebuilds when the snapshot file is missing', async () => {
      rmSync(manager().snapshotPath);
      await reopenAndCompare('rebuilt', /no snapshot/);
    });

    it('rebuilds when the snapshot file is truncated', async () => {
      const path = manager().snapshotPath;
      truncateSync(path, Math.floor(readFileSync(path).length / 2));
      await reopenAndCompare('rebuilt', /truncated/);
    });

    it('rebuilds when the snapshot file is empty', async () => {
      writeFileSync(manager().snapshotPath, '');
      await reopenAndCompare('rebuilt', /too short/);
    });

    it('rebuilds when one bit of the snapshot is flipped', async () => {
      const path = manager().snapshotPath;
      const bytes = readFileSync(path);
      bytes[Math.floor(bytes.length * 0.7)]! ^= 0x10;
      writeFileSync(path, bytes);
      await reopenAndCompare('rebuilt', /checksum/);
    });

    it('rebuilds when the snapshot was made for another dimension', async () => {
      const other = testIndexManager(store, 'test:vectors:8', 8, join(dir.path, 'other'));
      await other.open();
      await other.close();
      copyFileSync(other.snapshotPath, manager().snapshotPath);
      await reopenAndCompare('rebuilt', /made by test:vectors:8/);
    });

    it('rebuilds when the snapshot disagrees with the store', async () => {
      // Swap in a store with other memories but a sequence past the snapshot's.
      await store.close();
      rmSync(join(dir.path, 'memories.db'));
      rmSync(join(dir.path, 'memories.db-wal'), { force: true });
      rmSync(join(dir.path, 'memories.db-shm'), { force: true });
      store = new SqliteStore(join(dir.path, 'memories.db'));
      await store.open();
      await put(Array.from({ length: 250 }, (_, i) => `n${i}`));
      const index = manager();
      const report = await index.open();
      assert.equal(report.source, 'rebuilt');
      assert.match(report.reason ?? '', /disagrees/);
      await assertSelfQueries(index, new Set(Array.from({ length: 250 }, (_, i) => `n${i}`)), new Set(['r1']));
      await index.close();
    });

    it('rebuilds when the snapshot is ahead of the store', async () => {
      await store.close();
      for (const f of ['memories.db', 'memories.db-wal', 'memories.db-shm']) rmSync(join(dir.path, f), { force: true });
      store = new SqliteStore(join(dir.path, 'memories.db'));
      await store.open();
      await put(['only']);
      const index = manager();
      const report = await index.open();
      assert.equal(report.source, 'rebuilt');
      assert.match(report.reason ?? '', /store is at/);
      await assertSelfQueries(index, new Set(['only']), new Set(['r1']));
      await index.close();
    });
  });
});
