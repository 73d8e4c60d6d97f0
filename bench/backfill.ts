// Backfill throughput: records that lack an embedding, hash provider (384), batches of 256, two in
// flight, measured end to end (list -> embed -> write vectors), next to the reference of
// embedding the same texts alone; for FalkorDB also next to FalkorDB alone writing the same
// vectors to the same nodes under the vector index our backfill maintains (one UNWIND SET per
// 256, nothing else): FalkorDB's HNSW insert is the ceiling of any backfill into it.
import { FalkorDB } from 'falkordb';
import { join } from 'node:path';
import { BackfillJob } from '../src/backfill/backfill-job.js';
import { HashEmbeddingProvider } from '../src/embeddings/hash-provider.js';
import { silentLogger } from '../src/shared/logger.js';
import { FalkorDBStore } from '../src/store/falkordb/falkordb-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { MemoryStore } from '../src/store/types.js';
import { startFalkorDB } from '../scripts/falkordb-server.mjs';
import { tempDir } from '../test/helpers/tmp.js';

export interface BackfillFigure {
  store: string;
  records: number;
  seconds: number;
  perSecond: number;
  embedOnlyPerSecond: number;
  /** FalkorDB only: the same vectors written by FalkorDB alone under the vector index. */
  storeAlonePerSecond?: number;
}

async function timeRun(
  store: MemoryStore,
  embedder: HashEmbeddingProvider,
): Promise<{ seconds: number; embedded: number }> {
  const job = new BackfillJob({ store, embedder, logger: silentLogger, batchSize: 256, concurrency: 2, intervalMs: 0 });
  const t = performance.now();
  const run = await job.run({ trigger: 'manual' }).done;
  const seconds = (performance.now() - t) / 1000;
  if (run.outcome !== 'completed') throw new Error(`backfill ${run.outcome}: ${run.error}`);
  return { seconds, embedded: run.embedded };
}

export async function benchBackfill(texts: string[]): Promise<BackfillFigure[]> {
  const embedder = new HashEmbeddingProvider();
  const t0 = performance.now();
  for (let i = 0; i < texts.length; i += 256) await embedder.embed(texts.slice(i, i + 256));
  const embedOnly = texts.length / ((performance.now() - t0) / 1000);
  const out: BackfillFigure[] = [];

  const dir = tempDir('vmm-bench-backfill-');
  const sqlite = new SqliteStore(join(dir.path, 'm.db'));
  await sqlite.open();
  for (let i = 0; i < texts.length; i += 1000) {
    await sqlite.upsert(
      texts
        .slice(i, i + 1000)
        .map((text, j) => ({ id: `m${i + j}`, namespace: 'default', text, metadata: {}, tags: [], embedding: null })),
    );
  }
  const figure = (store: string, run: { seconds: number; embedded: number }): BackfillFigure => ({
    store,
    records: run.embedded,
    seconds: run.seconds,
    perSecond: run.embedded / run.seconds,
    embedOnlyPerSecond: embedOnly,
  });
  out.push(figure('sqlite (own memories)', await timeRun(sqlite, embedder)));
  await sqlite.close();
  dir.cleanup();

  const server = await startFalkorDB();
  try {
    const db = await FalkorDB.connect({ url: server.url });
    db.on('error', () => undefined);
    const storeAlone = await falkorAlone(db, texts, embedder);
    const g = db.selectGraph('kb');
    for (let i = 0; i < texts.length; i += 1000) {
      await g.query('UNWIND $texts AS t CREATE (:Doc {text: t})', { params: { texts: texts.slice(i, i + 1000) } });
    }
    await db.close();
    const store = new FalkorDBStore({
      url: server.url,
      graph: 'memory',
      label: 'Memory',
      logger: silentLogger,
      timeoutMs: 60_000,
    });
    await store.open();
    out.push({
      ...figure('falkordb (nodes written by another tool)', await timeRun(store, embedder)),
      storeAlonePerSecond: storeAlone,
    });
    await store.close();
  } finally {
    await server.stop();
  }
  return out;
}

/** FalkorDB alone: the same texts' vectors (embedded beforehand) written to fresh nodes under a vector index. */
async function falkorAlone(db: FalkorDB, texts: string[], embedder: HashEmbeddingProvider): Promise<number> {
  const g = db.selectGraph('alone');
  for (let i = 0; i < texts.length; i += 1000) {
    await g.query('UNWIND $texts AS t CREATE (:Doc {text: t})', { params: { texts: texts.slice(i, i + 1000) } });
  }
  const nids = (await g.query<{ nid: number }>('MATCH (n:Doc) RETURN ID(n) AS nid ORDER BY nid')).data!.map(
    (r) => r.nid,
  );
  const vectors: number[][] = [];
  for (let i = 0; i < texts.length; i += 256)
    for (const v of await embedder.embed(texts.slice(i, i + 256))) vectors.push([...v]);
  await g.query(
    `CREATE VECTOR INDEX FOR (n:Doc) ON (n.embedding) OPTIONS {dimension: ${vectors[0]!.length}, similarityFunction: 'cosine'}`,
  );
  const t = performance.now();
  for (let i = 0; i < vectors.length; i += 256) {
    const items = vectors.slice(i, i + 256).map((vector, j) => ({ nid: nids[i + j]!, vector }));
    await g.query(
      'UNWIND $items AS item WITH item, item.nid AS nid MATCH (n) WHERE ID(n) = nid SET n.embedding = vecf32(item.vector)',
      { params: { items } },
    );
  }
  const perSecond = vectors.length / ((performance.now() - t) / 1000);
  await g.delete();
  return perSecond;
}
