// Runs IVF training in a child process (ivf-worker.ts) and waits for it without blocking.
// Not a worker thread: faiss-node keeps its class constructors in process-wide statics, so
// loading it in a second thread breaks it in the first (a V8 fatal error).
// Vectors go to the child and the trained index comes back through files, written and read
// asynchronously, so nothing large is serialized on the event loop.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFully } from '../../shared/fs-atomic.js';
import { ownModule } from '../../shared/package-root.js';

export interface TrainRequest {
  dimension: number;
  nlist: number;
  count: number;
  /** The last `holdout` rows are tuning queries, not training points. */
  holdout: number;
  /** Smallest nprobe whose recall@10 reaches this is chosen. */
  targetRecall: number;
  maxNprobe: number;
}

export interface TrainResult {
  /** The trained, empty index, nprobe set (serialized). */
  index: Buffer;
  /** null when no nprobe up to maxNprobe reached the target. */
  nprobe: number | null;
  curve: { nprobe: number; recall: number }[];
  trainMs: number;
  tuneMs: number;
}

/** What the child reports back (the index itself travels through `outPath`). */
export type WorkerReply = { ok: true; result: Omit<TrainResult, 'index'> } | { ok: false; error: string };
export type WorkerRequest = TrainRequest & { kind: 'train'; vectorsPath: string; outPath: string };

/** Fills rows [fromRow, toRow) of a vectors file into IVF index parts (ivf-fill.ts). */
export interface FillRequest {
  kind: 'fill';
  dimension: number;
  /** The trained, empty index. */
  emptyPath: string;
  vectorsPath: string;
  fromRow: number;
  toRow: number;
  /** Parts are written to `${outPrefix}.<n>.tmp`. */
  outPrefix: string;
}
export type FillReply = { ok: true; result: { parts: string[] } } | { ok: false; error: string };

/** Rows written to the vectors file per write (a few MB, never one large copy on the event loop). */
const WRITE_ROWS_FLOATS = 1 << 20;

/** Trains IVF{nlist} on `rows` (count rows of `dimension`) in a child process; `dir` holds the temporary files. */
export async function trainInWorker(
  req: TrainRequest,
  rows: readonly Float32Array[],
  dir: string,
): Promise<TrainResult> {
  await mkdir(dir, { recursive: true });
  const tag = `${process.pid}.${randomBytes(4).toString('hex')}`;
  const vectorsPath = join(dir, `.train-${tag}.f32.tmp`);
  const outPath = join(dir, `.train-${tag}.index.tmp`);
  try {
    await writeRows(vectorsPath, rows, req.dimension);
    const reply = await runChild<WorkerReply>({ ...req, kind: 'train', vectorsPath, outPath });
    if (!reply.ok) throw new Error(`IVF training failed: ${reply.error}`);
    return { ...reply.result, index: await readFile(outPath) };
  } finally {
    await rm(vectorsPath, { force: true });
    await rm(outPath, { force: true });
  }
}

/** Runs one request in a new child process (ivf-worker.ts) and resolves to its one reply. */
export async function runChild<R>(message: WorkerRequest | FillRequest): Promise<R> {
  // Under tsx (tests, bench) the script is the .ts source and the child inherits tsx's loader.
  const child = fork(ownModule('index/ivf/ivf-worker'), [], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const reply = await new Promise<R>((resolve, reject) => {
    let settled = false;
    child.once('message', (m) => {
      settled = true;
      resolve(m as R);
    });
    child.once('error', (err) => {
      if (!settled) reject(err);
      settled = true;
    });
    child.once('exit', (code, signal) => {
      if (!settled) reject(new Error(`the IVF ${message.kind} process exited (${signal ?? `code ${code}`})`));
      settled = true;
    });
    child.send(message);
  });
  child.disconnect();
  return reply;
}

async function writeRows(path: string, rows: readonly Float32Array[], dimension: number): Promise<void> {
  const per = Math.max(1, Math.floor(WRITE_ROWS_FLOATS / dimension));
  const chunk = new Float32Array(per * dimension);
  const file = await open(path, 'w', 0o600);
  try {
    for (let start = 0; start < rows.length; start += per) {
      const n = Math.min(per, rows.length - start);
      for (let i = 0; i < n; i++) {
        const row = rows[start + i]!;
        if (row.length !== dimension) throw new RangeError(`row of dimension ${row.length}, expected ${dimension}`);
        chunk.set(row, i * dimension);
      }
      const bytes = new Uint8Array(chunk.buffer, 0, n * dimension * 4);
      await writeFully(file, bytes);
    }
  } finally {
    await file.close();
  }
}
