// faiss-index.ts, the only caller of faiss-node, on its own: the calls that would abort the
// process (faiss-node has no catchable error for them) are refused with an error instead.
// In its own test file because a process may load faiss-node in one thread only, and the
// index manager's FAISS worker is that thread wherever a manager runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkIndexLayout, parseEmptyIvf } from '../src/index/faiss/faiss-format.js';
import { FaissIndex, loadFaiss } from '../src/index/faiss/faiss-index.js';
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

describe('indexes built in faiss layout are the ones faiss-node add builds', () => {
  const d = 16;
  const next = rng(11);
  const rows = (n: number) => {
    const out = Float32Array.from({ length: n * d }, () => next() - 0.5);
    for (let i = 0; i < n; i++) {
      const v = out.subarray(i * d, (i + 1) * d);
      const norm = Math.hypot(...v);
      for (let j = 0; j < d; j++) v[j] = v[j]! / norm;
    }
    return out;
  };
  const split = (data: Float32Array) =>
    Array.from({ length: data.length / d }, (_, i) => data.subarray(i * d, (i + 1) * d));
  const queries = split(rows(40));

  function assertSame(ours: FaissIndex, raw: FaissIndex, size: number): void {
    assert.equal(ours.size, size);
    // Byte for byte what faiss writes after its own add, and so the same search answers.
    assert.ok(ours.serialize().equals(raw.serialize()), 'serialized indexes differ');
    const a = ours.search(queries, 10);
    const b = raw.search(queries, 10);
    assert.equal(a.length, queries.length);
    assert.deepEqual(a, b);
    assert.ok(a.every((h) => h.labels.length === 10));
  }

  it('Flat: bulk adds, small adds and bulk again give the same index, labels and scores', () => {
    const first = rows(1000);
    const few = rows(5);
    const second = rows(700);
    const ours = FaissIndex.flat(d);
    ours.addRows(first);
    ours.add(split(few)); // below the bulk threshold: faiss-node's add
    ours.addRows(second);
    const raw = new (loadFaiss().IndexFlatIP)(d);
    raw.add([...first, ...few, ...second]);
    assertSame(ours, FaissIndex.deserialize(raw.toBuffer(), d), 1705);
    assert.throws(() => ours.addRows(rows(3).subarray(1)), /not rows of 16/);
    assert.throws(() => ours.addRows(Float32Array.from({ length: 64 * d }, () => Number.NaN)), /non-finite/);
    assert.equal(ours.size, 1705);
  });

  it('IVF: rows land in their nearest list in insertion order, ids = labels', () => {
    const empty = FaissIndex.trainIvf(d, 16, rows(1000), 1000).withNprobe(4).serialize();
    const first = rows(2000);
    const few = rows(5);
    const second = rows(900);
    const ours = FaissIndex.deserialize(empty, d);
    ours.addRows(first);
    ours.add(split(few));
    ours.addRows(second);
    const raw = loadFaiss().Index.fromBuffer(empty);
    raw.add([...first, ...few, ...second]);
    const rawIndex = FaissIndex.deserialize(raw.toBuffer(), d);
    assert.equal(rawIndex.nprobe, 4);
    assertSame(ours, rawIndex, 2905);
  });

  it('refuses bytes that are not a trained, empty IVF-Flat index of its dimension', () => {
    const empty = FaissIndex.trainIvf(d, 16, rows(1000), 1000).serialize();
    assert.throws(() => parseEmptyIvf(empty, 8), /dimension 16/);
    assert.throws(() => parseEmptyIvf(empty.subarray(0, empty.length - 1), d), /unexpected length/);
    const full = FaissIndex.deserialize(empty, d);
    full.addRows(rows(100));
    assert.throws(() => parseEmptyIvf(full.serialize(), d), /holds vectors/);
    const flat = FaissIndex.flat(d);
    assert.throws(() => parseEmptyIvf(flat.serialize(), d), /wrong type|too short/);
  });

  it('checks the layout of indexes faiss wrote (Flat, IVF with full and sparse lists) and refuses any size out of place', async () => {
    const check = (b: Buffer, dim = d) => checkIndexLayout(async (at, n) => b.subarray(at, at + n), b.length, dim);
    const flat = FaissIndex.flat(d);
    flat.addRows(rows(300));
    const empty = FaissIndex.trainIvf(d, 16, rows(1000), 1000).serialize();
    const sparse = FaissIndex.deserialize(empty, d);
    sparse.add(split(rows(3))); // 3 of 16 lists in use: faiss writes the sizes as (list, size) pairs
    const full = FaissIndex.deserialize(empty, d);
    full.addRows(rows(2000));
    const indexes = [flat, FaissIndex.flat(d), FaissIndex.deserialize(empty, d), sparse, full].map((i) =>
      i.serialize(),
    );
    assert.equal(indexes[3]!.toString('latin1').includes('sprs'), true);
    assert.equal(indexes[4]!.toString('latin1').includes('full'), true);
    for (const b of indexes) await check(b);
    for (const b of indexes) {
      await assert.rejects(check(b.subarray(0, b.length - 1)), /layout/);
      await assert.rejects(check(Buffer.concat([b, Buffer.alloc(4)])), /layout/);
      await assert.rejects(check(b, 8), /dimension 16/);
    }
    // The vector count, a list's size, and the lists' format, each changed alone.
    const count = Buffer.from(indexes[0]!);
    count.writeBigInt64LE(301n, 8);
    await assert.rejects(check(count), /vector count/);
    const listSize = Buffer.from(indexes[4]!);
    const sizesAt = listSize.indexOf('full', 0, 'latin1') + 12;
    listSize.writeBigUInt64LE(listSize.readBigUInt64LE(sizesAt) + 1n, sizesAt);
    await assert.rejects(check(listSize), /lists hold 2001 vectors/);
    const format = Buffer.from(indexes[3]!);
    format.write('xxxx', format.indexOf('sprs', 0, 'latin1'), 'latin1');
    await assert.rejects(check(format), /inverted list format/);
  });
});
