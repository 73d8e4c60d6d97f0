// A bulk import through the index manager, as the server runs it (each batch committed to a real
// SQLite store, then the index caught up): when the index reshapes while the vectors arrive,
// what the reshapes cost, and how long after the last store IVF answers and the index has the
// shape the collection calls for. Clustered synthetic vectors (d = 384; IVF is refused on the
// hash provider's lexical vectors), the IVF threshold at a fifth of the import (200k at 1M).
// Run with the growth policy of ivf-policy.ts and, as the reference in the same run, with the
// plain 25% drift rule (writesQuietMs 0: writes never count as ongoing).
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { planFor, DEFAULT_IVF_POLICY, WRITES_QUIET_MS } from '../src/index/ivf/ivf-policy.js';
import type { Logger } from '../src/shared/logger.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { MemoryWrite } from '../src/store/types.js';
import { testIndexManager } from '../test/helpers/index-manager.js';
import { tempDir } from '../test/helpers/tmp.js';
import { clusteredVectors, note, now, record } from './common.js';

const DIM = 384;
const BATCH = 1000;

interface ImportRun {
  storeS: number;
  /** From the last store until a search is answered by IVF. */
  toIvfS: number;
  /** From the last store until the index has the shape the collection calls for, no reshape running. */
  toShapeS: number;
  nlist: number | null;
  reshapes: string[];
  /** Seconds a reshape was running, summed. */
  reshapingS: number;
}

async function importOnce(vectors: Float32Array, n: number, writesQuietMs: number): Promise<ImportRun> {
  const dir = tempDir('vmm-bench-import-');
  const fp = `bench:clustered:${DIM}`;
  const reshapes: string[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: (message, fields) => {
      if (message === 'reshaping the search index in the background') reshapes.push(String(fields?.['why']));
    },
    warn: () => undefined,
    error: (message, fields) => note(`import bench: ${message} ${JSON.stringify(fields)}`),
  };
  const policy = { minVectors: Math.floor(n / 5), recallFloor: 0.95 };
  const store = new SqliteStore(join(dir.path, 'm.db'));
  await store.open();
  // Snapshots as the server writes them (5 s after changes), competing for the FAISS worker.
  const index = testIndexManager(store, fp, DIM, join(dir.path, 'index'), {
    logger,
    ivf: policy,
    writesQuietMs,
    persistDelayMs: 5000,
  });
  let reshapingMs = 0;
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const t = now();
      await sleep(100);
      if (index.stats().reshaping !== null) reshapingMs += now() - t;
    }
  })();
  try {
    await index.open();
    const t0 = now();
    for (let i = 0; i < n; i += BATCH) {
      const writes: MemoryWrite[] = [];
      for (let j = i; j < Math.min(n, i + BATCH); j++) {
        const vector = vectors.subarray(j * DIM, (j + 1) * DIM);
        writes.push({
          id: `v${j}`,
          namespace: 'default',
          text: `v${j}`,
          metadata: {},
          tags: [],
          embedding: { vector, fingerprint: fp },
        });
      }
      await store.upsert(writes);
      await index.sync();
    }
    const last = now();
    const planned = planFor(n, DIM, { ...DEFAULT_IVF_POLICY, ...policy });
    const want = planned.type === 'IVF' ? planned.nlist : null;
    let toIvf: number | null = null;
    for (;;) {
      await index.search([vectors.subarray(0, DIM)], 10);
      const s = index.stats();
      if (toIvf === null && s.type === 'IVF') toIvf = now() - last;
      const settled =
        s.reshaping === null && (want === null || (s.nlist !== null && Math.abs(s.nlist - want) <= 0.25 * s.nlist));
      if (settled && toIvf !== null) break;
      if (Math.floor((now() - last) / 10_000) !== Math.floor((now() - last - 250) / 10_000)) {
        note(
          `import bench: waiting for IVF${want ?? ''}: ${s.type}${s.nlist ?? ''}, ${s.reshaping ?? s.lastTrainingAttempt?.reason ?? 'idle'}`,
        );
      }
      if (now() - last > 900_000)
        throw new Error(
          `import bench: no IVF ${want} 15 minutes after the last store (${s.type}${s.nlist ?? ''}, ${s.reshaping ?? s.lastTrainingAttempt?.reason})`,
        );
      await sleep(250);
    }
    return {
      storeS: (last - t0) / 1000,
      toIvfS: toIvf / 1000,
      toShapeS: (now() - last) / 1000,
      nlist: index.stats().nlist,
      reshapes,
      reshapingS: reshapingMs / 1000,
    };
  } finally {
    watching = false;
    await watcher;
    await index.close();
    await store.close();
    dir.cleanup();
  }
}

/** `quietMs`: how long without writes counts as the import having ended (the server's default; --smoke shortens it). */
export async function benchImport(n: number, quietMs = WRITES_QUIET_MS): Promise<void> {
  note(`import bench: generating ${n} clustered vectors`);
  const vectors = clusteredVectors(n, DIM, n + 17);
  const runs: [string, ImportRun][] = [];
  for (const [name, quiet] of [
    [`growth policy (while writing, retrain only when nlist doubles; writes ended after ${quietMs / 1000} s)`, quietMs],
    ['25% drift rule alone (writes not counted)', 0],
  ] as const) {
    note(`import bench: ${n} vectors, ${name}`);
    runs.push([name, await importOnce(vectors, n, quiet)]);
  }
  const [, ref] = runs[1]!;
  for (const [name, r] of runs) {
    const detail = `${name}; ${r.reshapes.length} reshapes: ${r.reshapes.join('; ')}; stored in ${r.storeS.toFixed(0)} s`;
    record({
      scenario: `import, from the last store to IVF answering (${detail})`,
      size: n,
      figure: 's',
      ours: r.toIvfS,
      reference: 180,
      refName: 'target 180 s',
      unit: 's',
    });
    record({
      scenario: `import, from the last store to IVF${r.nlist ?? ''}, the shape the size calls for (${name})`,
      size: n,
      figure: 's',
      ours: r.toShapeS,
      reference: 180,
      refName: 'target 180 s',
      unit: 's',
    });
    record({
      scenario: `import, seconds a reshape was running, from the first store to the final shape (${name})`,
      size: n,
      figure: 's',
      ours: r.reshapingS,
      reference: ref.reshapingS,
      refName: '25% drift rule alone, same run',
      unit: 's',
    });
  }
}
