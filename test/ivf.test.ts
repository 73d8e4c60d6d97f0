// Adaptive IVF: the plan (pure numbers), and the real thing on real vectors (GloVe-derived,
// d = 100), with real faiss-node and SQLite: a collection grown past the threshold switches to
// IVF trained on its own stored vectors and meets the recall floor against exact search; grown
// further, it is retrained; too small or too repetitive, it stays Flat and says why.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { measureRecallAt10 } from '../src/health/recall.js';
import { planFor, retrainReason, DEFAULT_IVF_POLICY } from '../src/index/ivf/ivf-policy.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { MemoryWrite } from '../src/store/types.js';
import { GLOVE_DIM, gloveSample } from './helpers/glove.js';
import { testIndexManager } from './helpers/index-manager.js';
import { tempDir } from './helpers/tmp.js';
import { rng } from './helpers/vectors.js';
import { waitFor } from './helpers/wait.js';

describe('IVF plan', () => {
  const policy = { ...DEFAULT_IVF_POLICY, minVectors: 10_000 };
  it('is Flat below the threshold, 4·sqrt(N) lists above it, with at least 39 training points per list', () => {
    assert.equal(planFor(9_999, 384, policy).type, 'Flat');
    const at1m = planFor(1_000_000, 384, policy);
    assert.deepEqual([at1m.type, at1m.type === 'IVF' && at1m.nlist], ['IVF', 4000]);
    assert.equal(at1m.type === 'IVF' && at1m.trainingPoints, 200_000); // 50 per list: 5x less training than all 1M
    assert.equal(at1m.type === 'IVF' && at1m.holdout, 500);
    const at10k = planFor(10_000, 384, policy);
    assert.equal(at10k.type === 'IVF' && at10k.nlist, 253); // 4·√N = 400 would leave 25 points per list (100 held out)
    assert.equal(planFor(500, 384, { ...policy, minVectors: 100 }).type, 'Flat'); // 12 lists: too few to bother
  });
  it('retrains when the right nlist drifts by more than 25%, and returns to Flat only well below the threshold', () => {
    assert.match(retrainReason({ type: 'Flat', nlist: null }, 30_000, 100, policy) ?? '', /grown/);
    assert.equal(retrainReason({ type: 'IVF', nlist: 693 }, 40_000, 100, policy), undefined); // 800: +15%
    assert.match(retrainReason({ type: 'IVF', nlist: 693 }, 50_000, 100, policy) ?? '', /nlist 693 -> 894/);
    assert.equal(retrainReason({ type: 'IVF', nlist: 400 }, 9_000, 100, policy), undefined); // hysteresis
    assert.match(retrainReason({ type: 'IVF', nlist: 400 }, 4_000, 100, policy) ?? '', /Flat/);
  });
  it('while writes keep coming, retrains an IVF index only once its nlist would double', () => {
    const ivf = { type: 'IVF' as const, nlist: 1789 }; // trained at 200k
    assert.match(retrainReason(ivf, 320_000, 384, policy) ?? '', /nlist 1789 -> 2263/);
    assert.equal(retrainReason(ivf, 320_000, 384, policy, true), undefined);
    assert.equal(retrainReason(ivf, 800_000, 384, policy, true), undefined); // 3578: +100%, not more
    assert.match(retrainReason(ivf, 810_000, 384, policy, true) ?? '', /nlist 1789 -> 3600/);
    assert.match(retrainReason({ type: 'Flat', nlist: null }, 200_000, 384, policy, true) ?? '', /grown/);
  });
});

describe('adaptive IVF on real vectors (GloVe-derived, d = 100)', { timeout: 300_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  let vectors: Float32Array[];
  const FP = `glove:test:${GLOVE_DIM}`;
  let written = 0;

  const put = async (n: number, textOf: (i: number) => string = (i) => `word vector ${i}`) => {
    for (let start = written; start < written + n; start += 1000) {
      const writes: MemoryWrite[] = [];
      for (let i = start; i < Math.min(written + n, start + 1000); i++) {
        writes.push({
          id: `g${i}`,
          namespace: 'default',
          text: textOf(i),
          metadata: {},
          tags: [],
          embedding: { vector: vectors[i]!, fingerprint: FP },
        });
      }
      await store.upsert(writes);
    }
    written += n;
  };
  const manager = (name: string) =>
    testIndexManager(store, FP, GLOVE_DIM, join(dir.path, name), {
      ivf: { minVectors: 10_000, recallFloor: 0.95 },
      writesQuietMs: 1500,
    });

  before(() => {
    vectors = gloveSample(60_000, rng(11));
  });
  after(() => dir?.cleanup());

  it('switches to IVF past the threshold, meets the recall floor, retrains when grown, survives a restart', async (t) => {
    dir = tempDir();
    store = new SqliteStore(join(dir.path, 'memories.db'));
    await store.open();
    await put(8_000);
    const index = manager('index');
    await index.open();
    assert.equal(index.stats().type, 'Flat');
    assert.match(index.stats().plan, /below the IVF threshold/);

    // Grown to 30,000: the next catch-up starts training in the background; searches go on meanwhile.
    await put(22_000);
    await index.sync();
    assert.match(index.stats().reshaping ?? '', /grown to 30000/);
    const during = await index.search([vectors[0]!], 10);
    assert.equal(during[0]![0]!.id, 'g0');
    await waitFor(async () => index.stats().type === 'IVF' && index.stats().reshaping === null, 120_000, 'IVF');
    const s = index.stats();
    assert.equal(s.nlist, 693); // 4·√30000
    assert.ok(s.trainingSetSize! >= 39 * 693 && s.trainingSetSize! <= 30_000, `trained on ${s.trainingSetSize}`);
    assert.ok(s.nprobe! > 1 && s.nprobe! <= 256, `nprobe ${s.nprobe}`);
    const curve = s.training!.curve;
    assert.ok(curve[curve.length - 1]!.recall >= 0.97, JSON.stringify(curve)); // the floor + 0.02
    assert.ok(curve[0]!.recall < 0.97, 'nprobe 1 is not enough on real vectors');
    // Measured on the live index against exact search over the store:
    const measured = await measureRecallAt10(index, store, 300);
    t.diagnostic(
      `30,000 GloVe vectors: IVF${s.nlist}, trained on ${s.trainingSetSize} in ${s.training!.trainMs} ms, ` +
        `nprobe ${s.nprobe} (curve ${curve.map((c) => `${c.nprobe}:${c.recall.toFixed(3)}`).join(' ')}), ` +
        `recall@10 vs exact on the live index ${measured.recall.toFixed(3)} (${measured.sample} queries)`,
    );
    assert.ok(measured.recall >= 0.95, `recall@10 ${measured.recall}`);
    assert.equal((await index.verify()).ok, true);

    // A restart loads the IVF snapshot (nprobe included) instead of retraining.
    await index.close();
    const again = manager('index');
    const opened = await again.open();
    assert.equal(opened.source, 'snapshot');
    assert.deepEqual([again.stats().type, again.stats().nlist, again.stats().nprobe], ['IVF', 693, s.nprobe]);
    const [hits] = await again.search([vectors[123]!], 10);
    assert.equal(hits![0]!.id, 'g123');

    // Grown to 50,000: the right nlist is now 894 (+29%): retrained in the background, once the
    // writes have stopped (while they come, only a doubled nlist retrains).
    await put(20_000);
    await again.sync();
    assert.equal(again.stats().reshaping, null, 'not retrained while writes keep coming');
    assert.equal(again.stats().nlist, 693);
    await waitFor(async () => again.stats().nlist === 894 && again.stats().reshaping === null, 120_000, 'retrain');
    assert.equal(again.stats().live, 50_000);
    // Filled by child processes (two ranges of rows at 50,000) and merged: every label maps to its own
    // memory, at both ends of each range, and no fill file is left behind.
    for (const i of [0, 24_999, 25_000, 40_001, 49_999]) {
      const [self] = await again.search([vectors[i]!], 1);
      assert.equal(self![0]!.id, `g${i}`);
    }
    assert.deepEqual(
      readdirSync(join(dir.path, 'index')).filter((f) => f.endsWith('.tmp')),
      [],
    );
    const regrown = await measureRecallAt10(again, store, 300);
    assert.ok(regrown.recall >= 0.95, `recall@10 after retraining ${regrown.recall}`);
    await again.close();
    await store.close();
  });

  it('stays Flat, and says why, when the stored vectors are too repetitive to train on', async () => {
    dir.cleanup();
    dir = tempDir();
    store = new SqliteStore(join(dir.path, 'memories.db'));
    await store.open();
    written = 0;
    // 12,000 memories but only 3,000 distinct texts: training on repeats is refused.
    await put(12_000, (i) => `word vector ${i % 3000}`);
    const index = manager('index');
    await index.open();
    // An open without a snapshot serves Flat at once; the IVF attempt follows in the background.
    assert.equal(index.stats().type, 'Flat');
    await waitFor(
      async () => index.stats().lastTrainingAttempt !== null && index.stats().reshaping === null,
      120_000,
      'attempt',
    );
    const s = index.stats();
    assert.equal(s.type, 'Flat');
    assert.equal(s.lastTrainingAttempt?.outcome, 'refused');
    assert.match(s.lastTrainingAttempt?.reason ?? '', /only 3000 distinct stored vectors/);
    // Refused at this size: no retraining loop on every write.
    await put(100);
    await index.sync();
    assert.equal(index.stats().reshaping, null);
    await index.close();
    await store.close();
  });

  it('reshapes again by itself when the changes that came during a reshape call for another shape', async () => {
    dir?.cleanup();
    dir = tempDir();
    store = new SqliteStore(join(dir.path, 'memories.db'));
    await store.open();
    written = 0;
    await put(10_000);
    const index = manager('index');
    await index.open();
    await index.sync();
    assert.match(index.stats().reshaping ?? '', /grown to 10000/);
    // An import that ends while the first training runs: nlist 253 -> 894 is due, but no further change comes to ask.
    await put(40_000);
    await index.sync();
    assert.match(index.stats().reshaping ?? '', /grown to 10000/, 'still the first reshape');
    await waitFor(async () => index.stats().nlist === 894 && index.stats().reshaping === null, 180_000, 'IVF894');
    assert.equal(index.stats().live, 50_000);
    await index.close();
    await store.close();
  });
});
