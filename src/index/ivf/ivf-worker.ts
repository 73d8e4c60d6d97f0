// Child process: trains an IVF index and chooses its nprobe, off the server's process
// (training nlist 4000 on 1M vectors takes minutes; the server keeps answering meanwhile).
//
// In: real stored vectors, row-major, in a file; the last `holdout` rows are queries only. The
// index is trained on the others, filled with them, and searched at nprobe 1, 2, 4, ... against
// exact search of the same rows until recall@10 reaches the target. Out: the trained, still
// empty index (with that nprobe) in a file, and the measured curve as a message.
//
// Or (kind 'fill', ivf-fill.ts): a range of rows of a vectors file, put in the lists of a
// trained, empty index, written as index parts of at most PART_FLOATS floats for the FAISS worker
// to merge. The quantizer search that finds each row's list reads a JS array element by element
// (the cost of faiss's add); several of these processes share a large fill.
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
// OpenBLAS reads this when faiss loads (at the first loadFaiss()): the server keeps itself to
// one BLAS thread (see cli.ts), this process forks nothing and gets the user's setting back.
const blasThreads = process.env['VMM_CHILD_OPENBLAS_NUM_THREADS'];
if (blasThreads === '') delete process.env['OPENBLAS_NUM_THREADS'];
else if (blasThreads !== undefined) process.env['OPENBLAS_NUM_THREADS'] = blasThreads;
import { FaissIndex } from '../faiss/faiss-index.js';
import type { FillReply, FillRequest, WorkerReply, WorkerRequest } from './ivf-train.js';

/** Floats per index part (64 MB): one merge holds the FAISS worker for a short time. */
const PART_FLOATS = 16_000_000;

const K = 10;

function run(req: WorkerRequest): Extract<WorkerReply, { ok: true }>['result'] {
  const { dimension: d, nlist, count, holdout } = req;
  const bytes = readFileSync(req.vectorsPath);
  const vectors = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  if (vectors.length !== count * d) throw new Error(`expected ${count} x ${d} floats, got ${vectors.length}`);
  const trainCount = count - holdout;
  const rows = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => vectors.subarray((from + i) * d, (from + i + 1) * d));
  const t0 = performance.now();
  const trained = FaissIndex.trainIvf(d, nlist, vectors.subarray(0, trainCount * d), trainCount);
  const empty = trained.serialize();
  const trainMs = performance.now() - t0;

  const t1 = performance.now();
  const base = rows(0, trainCount);
  const queries = rows(trainCount, count);
  trained.add(base);
  const exact = FaissIndex.flat(d);
  exact.add(base);
  const truth = exact.search(queries, K).map((h) => new Set(h.labels));
  const curve: { nprobe: number; recall: number }[] = [];
  let chosen: number | null = null;
  const maxProbe = Math.min(nlist, req.maxNprobe);
  for (let p = 1; ; p = Math.min(p * 2, maxProbe)) {
    const hits = (p === 1 ? trained : trained.withNprobe(p)).search(queries, K);
    let found = 0;
    hits.forEach((h, i) => {
      for (const l of h.labels) if (truth[i]!.has(l)) found++;
    });
    const recall = found / Math.max(1, queries.length * K);
    curve.push({ nprobe: p, recall });
    if (recall >= req.targetRecall) {
      chosen = p;
      break;
    }
    if (p >= maxProbe) break;
  }
  const out = chosen === null ? empty : FaissIndex.deserialize(empty, d).withNprobe(chosen).serialize();
  writeFileSync(req.outPath, out);
  return { nprobe: chosen, curve, trainMs, tuneMs: performance.now() - t1 };
}

function fill(req: FillRequest): { parts: string[] } {
  const d = req.dimension;
  const empty = FaissIndex.deserialize(readFileSync(req.emptyPath), d);
  const per = Math.max(1, Math.floor(PART_FLOATS / d));
  const parts: string[] = [];
  const fd = openSync(req.vectorsPath, 'r');
  try {
    for (let from = req.fromRow; from < req.toRow; from += per) {
      const n = Math.min(per, req.toRow - from);
      const rows = new Float32Array(n * d);
      const bytes = new Uint8Array(rows.buffer);
      for (let off = 0; off < bytes.length;) {
        const got = readSync(fd, bytes, off, bytes.length - off, from * d * 4 + off);
        if (got === 0) throw new Error(`vectors file ends before row ${req.toRow}`);
        off += got;
      }
      const path = `${req.outPrefix}.${parts.length}.tmp`;
      writeFileSync(path, Buffer.concat(empty.ivfPartOf(rows, from)), { mode: 0o600 });
      parts.push(path);
    }
  } finally {
    closeSync(fd);
  }
  return { parts };
}

process.once('message', (req: WorkerRequest | FillRequest) => {
  let reply: WorkerReply | FillReply;
  try {
    reply = req.kind === 'fill' ? { ok: true, result: fill(req) } : { ok: true, result: run(req) };
  } catch (err) {
    reply = { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  process.send!(reply, () => process.exit(0));
});
