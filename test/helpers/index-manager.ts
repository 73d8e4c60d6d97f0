// An IndexManager as the tests use it: silent, and writing snapshots only when asked (persist
// or close), so that what is on disk is what the test made.
import assert from 'node:assert/strict';
import { IndexManager, type IndexManagerOptions } from '../../src/index/index-manager.js';
import { silentLogger } from '../../src/shared/logger.js';
import type { MemoryStore, MemoryWrite } from '../../src/store/types.js';
import { randomUnitVector } from './vectors.js';

export function testIndexManager(
  store: MemoryStore,
  fingerprint: string,
  dimension: number,
  dir: string,
  extra: Partial<IndexManagerOptions> = {},
): IndexManager {
  return new IndexManager({ store, fingerprint, dimension, dir, logger: silentLogger, persistDelayMs: 0, ...extra });
}

/**
 * A test's memories with seeded random unit vectors of one model: `write(ids)` makes them (each
 * vector kept by id, text from `text`), `assertFindsItself` checks that each live memory's own
 * vector finds it first with cosine 1 and that nothing deleted comes back.
 */
export function randomMemories(fingerprint: string, dimension: number, next: () => number) {
  const vectors = new Map<string, Float32Array>();
  return {
    vectors,
    write(ids: readonly string[], text: (id: string) => string = (id) => `text ${id}`): MemoryWrite[] {
      return ids.map((id) => {
        const vector = randomUnitVector(dimension, next);
        vectors.set(id, vector);
        return { id, namespace: 'default', text: text(id), metadata: {}, tags: [], embedding: { vector, fingerprint } };
      });
    },
    async assertFindsItself(
      index: IndexManager,
      live: Iterable<string>,
      deleted: Iterable<string> = [],
    ): Promise<void> {
      const ids = [...live];
      const gone = new Set(deleted);
      const results = await index.search(
        ids.map((id) => vectors.get(id)!),
        3,
      );
      results.forEach((hits, i) => {
        assert.equal(hits[0]?.id, ids[i], `self-query of ${ids[i]} returned ${hits[0]?.id}`);
        assert.ok(Math.abs(hits[0]!.score - 1) < 1e-4, `self-query of ${ids[i]} scored ${hits[0]!.score}`);
        for (const h of hits) assert.ok(!gone.has(h.id), `deleted ${h.id} returned`);
      });
      assert.equal(index.liveCount, ids.length);
    },
  };
}
