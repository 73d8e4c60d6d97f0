// faiss-index.ts, the only caller of faiss-node, on its own: the calls that would abort the
// process (faiss-node has no catchable error for them) are refused with an error instead.
// In its own test file because a process may load faiss-node in one thread only, and the
// index manager's FAISS worker is that thread wherever a manager runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FaissIndex } from '../src/index/faiss/faiss-index.js';
import { rng } from './helpers/vectors.js';

describe('IVF calls that would abort the process are refused with a catchable error', () => {
  it('training with too few points, untrained indexes, bad nprobe', () => {
    const d = 8;
    const next = rng(3);
    const rows = (n: number) => Float32Array.from({ length: n * d }, () => next() - 0.5);
    // faiss aborts below nlist points; we refuse below 39 per list.
    assert.throws(() => FaissIndex.trainIvf(d, 16, rows(100), 100), /needs at least 624 vectors/);
    assert.throws(() => FaissIndex.trainIvf(d, 16, rows(700), 699), /count x dimension/);
    const ivf = FaissIndex.trainIvf(d, 16, rows(700), 700);
    assert.equal(ivf.shape().trained, true);
    // An untrained IVF index never comes back from bytes: patch is_trained (byte 32) to 0.
    const bytes = ivf.serialize();
    bytes[32] = 0;
    assert.throws(() => FaissIndex.deserialize(bytes, d), /not trained/);
    assert.throws(() => ivf.withNprobe(0), /invalid nprobe/);
    assert.deepEqual(ivf.search([rows(1)], 0), [{ labels: [], scores: [] }]); // k = 0 on an empty index: no call
    assert.throws(() => ivf.remove([0]), /only a flat index/);
    ivf.add(Array.from({ length: 50 }, () => rows(1)));
    assert.equal(ivf.withNprobe(4).nprobe, 4);
    assert.equal(ivf.withNprobe(4).size, 50);
  });
});
