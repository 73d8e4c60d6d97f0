// The search queue, on its own: a runner that records what reaches "FAISS" stands in for the
// index manager (the batcher's contract is with the runner, not with faiss).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Hit } from '../src/index/index-state.js';
import { SearchBatcher, type BatchRunner } from '../src/index/search-batcher.js';
import { Mutex } from '../src/shared/mutex.js';
import { MemoryError } from '../src/shared/errors.js';

const q = (x: number) => Float32Array.of(x);
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Answers each query x with hits x.0, x.1, ... (k of them); records every batch it ran. */
function runner(options: { waitMs?: number; searchMs?: number; fail?: string } = {}) {
  const lock = new Mutex();
  const batches: { queries: number[]; k: number }[] = [];
  let prepared = 0;
  const r: BatchRunner = {
    exclusive: (section) => lock.run(section),
    prepare: async () => {
      prepared++;
    },
    search: async (queries, k) => {
      batches.push({ queries: queries.map((v) => v[0]!), k });
      if (options.searchMs) await tick(options.searchMs);
      if (options.fail) throw new Error(options.fail);
      return queries.map((v) => Array.from({ length: k }, (_, i): Hit => ({ id: `${v[0]}.${i}`, score: 1 - i / 10 })));
    },
    bounded: () => ({
      waitMs: options.waitMs ?? 1000,
      timeoutError: () => new MemoryError('INDEX_UNAVAILABLE', 'waited too long'),
    }),
  };
  return { r, lock, batches, prepared: () => prepared };
}

describe('search batcher', () => {
  it('answers searches that arrive together with one call, each caller its own rows and k', async () => {
    const { r, batches, prepared } = runner();
    const b = new SearchBatcher(r);
    const [one, two, three] = await Promise.all([b.search([q(1)], 2), b.search([q(2), q(3)], 1), b.search([q(4)], 3)]);
    assert.equal(batches.length, 1, 'one FAISS call');
    assert.deepEqual(batches[0], { queries: [1, 2, 3, 4], k: 3 });
    assert.equal(prepared(), 1, 'caught up once for the batch');
    assert.deepEqual(
      one![0]!.map((h) => h.id),
      ['1.0', '1.1'],
    );
    assert.deepEqual(
      two!.map((hits) => hits.map((h) => h.id)),
      [['2.0'], ['3.0']],
    );
    assert.equal(three![0]!.length, 3);
    assert.deepEqual([b.calls, b.batches], [3, 1]);
  });

  it('searches arriving while a batch holds the index form the next batch', async () => {
    const { r, batches } = runner({ searchMs: 30 });
    const b = new SearchBatcher(r);
    const first = b.search([q(1)], 1);
    await tick(10);
    const later = [b.search([q(2)], 1), b.search([q(3)], 1)];
    await Promise.all([first, ...later]);
    assert.deepEqual(
      batches.map((x) => x.queries),
      [[1], [2, 3]],
    );
  });

  it('a caller waiting past its limit leaves the queue with a clear error; the others are answered', async () => {
    const { r, lock, batches } = runner({ waitMs: 30 });
    const b = new SearchBatcher(r);
    const holding = lock.run(() => tick(80)); // something else holds the index
    const late = b.search([q(1)], 1);
    await assert.rejects(late, /waited too long/);
    await holding;
    assert.equal((await b.search([q(2)], 1))[0]![0]!.id, '2.0');
    assert.deepEqual(
      batches.map((x) => x.queries),
      [[2]],
      'the expired search never reached FAISS',
    );
  });

  it('an aborted caller leaves the queue at once; a batch that started still answers everyone in it', async () => {
    const { r, lock, batches } = runner({ searchMs: 20 });
    const b = new SearchBatcher(r);
    const holding = lock.run(() => tick(50));
    const controller = new AbortController();
    const cancelled = b.search([q(1)], 1, controller.signal);
    const kept = b.search([q(2)], 1);
    await tick(5);
    controller.abort(new Error('client cancelled'));
    await assert.rejects(cancelled, /client cancelled/);
    await holding;
    assert.equal((await kept)[0]![0]!.id, '2.0');
    assert.deepEqual(
      batches.map((x) => x.queries),
      [[2]],
    );
    await assert.rejects(b.search([q(3)], 1, controller.signal), /client cancelled/, 'already aborted');

    const late = new AbortController();
    const started = b.search([q(4)], 1, late.signal);
    await tick(5); // the batch has started
    late.abort(new Error('too late to matter'));
    assert.equal((await started)[0]![0]!.id, '4.0');
  });

  it('a failing batch rejects the callers in it, and the queue goes on', async () => {
    const failing = runner({ fail: 'faiss went wrong' });
    const b = new SearchBatcher(failing.r);
    const results = await Promise.allSettled([b.search([q(1)], 1), b.search([q(2)], 1)]);
    assert.deepEqual(
      results.map((x) => x.status),
      ['rejected', 'rejected'],
    );
    assert.match(String((results[0] as PromiseRejectedResult).reason), /faiss went wrong/);
    assert.deepEqual(await b.search([], 1), [], 'no queries: nothing to do');
  });
});
