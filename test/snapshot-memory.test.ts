// Snapshots must not cost memory that never comes back. faiss-node's in-memory serialization
// (toBuffer / fromBuffer) leaks a full copy of the index on every call; the server writes and
// reads snapshot files through faiss instead. Measured here on the resident size of this test's
// own process (one test file = one process): 10 persists and 10 opens of a 29 MB index.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { testIndexManager } from './helpers/index-manager.js';
import { tempDir } from './helpers/tmp.js';
import { randomUnitVector, rng } from './helpers/vectors.js';

const DIM = 384;
const N = 20_000;
const FP = `test:memory:${DIM}`;
const MB = 1024 * 1024;

describe('snapshot memory', () => {
  it('persisting and reopening the index does not grow the process', { timeout: 180_000 }, async (t) => {
    const dir = tempDir();
    const store = new SqliteStore(join(dir.path, 'm.db'));
    await store.open();
    const next = rng(5);
    for (let i = 0; i < N; i += 1000) {
      await store.upsert(
        Array.from({ length: 1000 }, (_, j) => ({
          id: `m${i + j}`,
          namespace: 'default',
          text: `memory ${i + j}`,
          metadata: {},
          tags: [],
          embedding: { vector: randomUnitVector(DIM, next), fingerprint: FP },
        })),
      );
    }
    const manager = () => testIndexManager(store, FP, DIM, join(dir.path, 'index'));
    const settle = async () => {
      for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 50));
      return process.memoryUsage().rss;
    };
    const indexMb = (N * DIM * 4) / MB;
    try {
      const index = manager();
      assert.equal((await index.open()).source, 'rebuilt');
      await index.persist({ force: true }); // warm-up: first-use allocations are not growth
      const beforePersists = await settle();
      for (let i = 0; i < 10; i++) {
        await index.persist({ force: true });
      }
      const persistGrowth = ((await settle()) - beforePersists) / MB;
      await index.close();

      const warm = manager();
      assert.equal((await warm.open()).source, 'snapshot');
      await warm.close();
      const beforeOpens = await settle();
      for (let i = 0; i < 10; i++) {
        const again = manager();
        const report = await again.open();
        assert.equal(report.source, 'snapshot', report.reason);
        assert.equal((await again.search([randomUnitVector(DIM, next)], 5))[0]!.length, 5);
        await again.close();
      }
      const openGrowth = ((await settle()) - beforeOpens) / MB;
      t.diagnostic(
        `index ${indexMb.toFixed(0)} MB: 10 persists grew the process by ${persistGrowth.toFixed(0)} MB, ` +
          `10 opens by ${openGrowth.toFixed(0)} MB (a leaking (de)serialization would add ~${(10 * indexMb).toFixed(0)} MB each)`,
      );
      assert.ok(persistGrowth < 3 * indexMb, `persists grew the process by ${persistGrowth.toFixed(0)} MB`);
      assert.ok(openGrowth < 3 * indexMb, `opens grew the process by ${openGrowth.toFixed(0)} MB`);
    } finally {
      await store.close();
      dir.cleanup();
    }
  });
});
