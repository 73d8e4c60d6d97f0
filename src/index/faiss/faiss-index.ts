// The only module that touches faiss-node. It runs in the FAISS worker thread (faiss-thread.ts)
// and in the IVF training process (ivf-worker.ts), never on the main thread. faiss-node aborts
// the whole process (no catchable error) on some invalid calls: search with k = 0, add of the
// wrong length, add to an untrained IVF index, training with fewer points than lists, write
// into a missing folder. Every precondition is checked here, so those calls cannot happen.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FLAT_IP_FOURCC,
  IVF_FLAT_FOURCC,
  NLIST_OFFSET,
  NPROBE_OFFSET,
  NTOTAL_OFFSET,
  flatHeader,
  ivfParts,
  parseEmptyIvf,
  type IvfLayout,
} from './faiss-format.js';
import type { FaissModule, NativeIndex } from './faiss-node-api.js';
import { MAX_TRAINING_FLOATS, MIN_POINTS_PER_LIST } from './faiss-limits.js';
import { PACKAGE_ROOT } from '../../shared/package-root.js';
import { fdPath } from './proc-fd.js';

/**
 * Where scripts/install-faiss.mjs builds faiss-node when npm could not install it: a folder of
 * the package itself, because npm deletes an optional dependency whose own install failed at the
 * end of a packaged install, even after our postinstall built it in place.
 */
export const OWNED_FAISS_DIR = join(PACKAGE_ROOT, 'native', 'faiss-node');
export const FAISS_FIX = `node ${join(PACKAGE_ROOT, 'scripts', 'install-faiss.mjs')} (it builds faiss-node against the system's libfaiss; Debian/Ubuntu: apt-get install -y libfaiss-dev libopenblas-dev)`;

/** faiss-node is missing or does not load: nothing rebuilding the index can fix. */
export class FaissUnavailableError extends Error {
  override readonly name = 'FaissUnavailable';
}

let loaded: FaissModule | undefined;
let loadError: FaissUnavailableError | undefined;

/**
 * faiss-node, loaded on first use: the package npm installed, else the copy the postinstall built
 * into the package (OWNED_FAISS_DIR). Throws FaissUnavailableError naming the fix.
 */
export function loadFaiss(): FaissModule {
  if (loaded) return loaded;
  if (loadError) throw loadError;
  const require = createRequire(import.meta.url);
  const problems: string[] = [];
  for (const [what, id] of [
    ['faiss-node', 'faiss-node'],
    [OWNED_FAISS_DIR, OWNED_FAISS_DIR],
  ] as const) {
    try {
      loaded = require(id) as FaissModule;
      return loaded;
    } catch (err) {
      const message = err instanceof Error ? err.message.split('\n')[0]! : String(err);
      problems.push(`${what}: ${message}`);
    }
  }
  loadError = new FaissUnavailableError(
    `faiss-node is not installed or does not load (${problems.join('; ')}); search needs it. Fix: run ${FAISS_FIX}, then restart the server`,
  );
  throw loadError;
}

/** faiss-node reads plain JS arrays; one call is bounded by this many floats. */
const MAX_FLOATS_PER_CALL = 4_000_000;
/** FAISS's distance_compute_blas_threshold: from this many queries on, one BLAS call answers them all. */
const BLAS_BATCH = 20;
/** One or two queries are still faster scanned than padded to a BLAS batch. */
const MIN_PADDED_BATCH = 3;

/**
 * From this many vectors on, an add goes through faiss's own reader (faiss-format.ts: a file in
 * faiss's layout, read and merged into the index) instead of a JS array read element by element.
 */
const SERIALIZED_ADD_MIN = 32;
/** Floats per temporary index file of a serialized add (64 MB). */
const SERIALIZED_ADD_FLOATS = 16_000_000;

export interface SearchHits {
  labels: number[];
  scores: number[];
}

export type IndexKind = 'Flat' | 'IVF';

export interface IndexShape {
  type: IndexKind;
  nlist: number | null;
  nprobe: number | null;
  trained: boolean;
}

/**
 * Inner-product search over L2-normalized vectors (cosine similarity): exact (`IndexFlatIP`)
 * or inverted lists over a trained coarse quantizer (`IVF{nlist},Flat`), searched with nprobe lists.
 */
export class FaissIndex {
  readonly dimension: number;
  readonly kind: IndexKind;
  readonly nlist: number | null;
  readonly nprobe: number | null;
  private readonly native: NativeIndex;
  /** An IVF index's centroids and layout, when known (it was empty when made or read): bulk adds use it. */
  private readonly ivf: IvfLayout | null;
  private quantizer: NativeIndex | null = null;

  private constructor(
    dimension: number,
    native: NativeIndex,
    kind: IndexKind,
    nlist: number | null,
    nprobe: number | null,
    ivf: IvfLayout | null = null,
  ) {
    this.dimension = dimension;
    this.native = native;
    this.kind = kind;
    this.nlist = nlist;
    this.nprobe = nprobe;
    this.ivf = ivf;
  }

  static flat(dimension: number): FaissIndex {
    checkDimension(dimension);
    return new FaissIndex(dimension, new (loadFaiss().IndexFlatIP)(dimension), 'Flat', null, null);
  }

  /**
   * Trains an empty IVF index on `count` real vectors (row-major in `training`). Refuses what
   * would abort the process or train badly: fewer than 39 points per list, more floats than
   * one call can take.
   */
  static trainIvf(dimension: number, nlist: number, training: Float32Array, count: number): FaissIndex {
    checkDimension(dimension);
    if (!Number.isInteger(nlist) || nlist < 1) throw new RangeError(`invalid nlist ${nlist}`);
    if (training.length !== count * dimension)
      throw new RangeError('training data does not hold count x dimension floats');
    if (count < MIN_POINTS_PER_LIST * nlist) {
      throw new RangeError(`training IVF${nlist} needs at least ${MIN_POINTS_PER_LIST * nlist} vectors, got ${count}`);
    }
    if (training.length > MAX_TRAINING_FLOATS) throw new RangeError(`training set too large (${count} vectors)`);
    checkFinite(training);
    const { Index, MetricType } = loadFaiss();
    const native = Index.fromFactory(dimension, `IVF${nlist},Flat`, MetricType.METRIC_INNER_PRODUCT);
    native.train(Array.from(training));
    if (!native.isTrained()) throw new Error('IVF training did not complete');
    return new FaissIndex(dimension, native, 'IVF', nlist, 1, parseEmptyIvf(native.toBuffer(), dimension));
  }

  /**
   * Restores a serialized Flat-IP or IVF-Flat index; throws (catchably) on anything else.
   * faiss-node's fromBuffer leaks a copy of the bytes (its reader is never freed): for
   * short-lived processes only (IVF training). Long-lived code reads files (`readFile`).
   */
  static deserialize(bytes: Buffer, dimension: number): FaissIndex {
    return FaissIndex.restore(
      bytes.subarray(0, NPROBE_OFFSET + 8),
      dimension,
      () => bytes,
      () => loadFaiss().Index.fromBuffer(bytes),
    );
  }

  /**
   * Reads a Flat-IP or IVF-Flat index that faiss wrote at the start of the file `path` (bytes
   * after it are ignored). The file must exist and have been checked: faiss reads it as it is.
   */
  static readFile(path: string, dimension: number): FaissIndex {
    const head = Buffer.alloc(NPROBE_OFFSET + 8);
    const fd = openSync(path, 'r');
    let got: number;
    try {
      got = readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
    return FaissIndex.restore(
      head.subarray(0, got),
      dimension,
      () => readFileSync(path),
      () => loadFaiss().Index.read(path),
    );
  }

  private static restore(head: Buffer, dimension: number, all: () => Buffer, read: () => NativeIndex): FaissIndex {
    const fourcc = head.subarray(0, 4).toString('latin1');
    if (fourcc !== FLAT_IP_FOURCC && fourcc !== IVF_FLAT_FOURCC) throw new Error(`unsupported index type "${fourcc}"`);
    if (fourcc === IVF_FLAT_FOURCC && head.length < NPROBE_OFFSET + 8) throw new Error('IVF index header truncated');
    const native = read();
    if (native.getDimension() !== dimension) {
      throw new Error(`index has dimension ${native.getDimension()}, expected ${dimension}`);
    }
    if (fourcc === FLAT_IP_FOURCC) return new FaissIndex(dimension, native, 'Flat', null, null);
    if (!native.isTrained()) throw new Error('IVF index is not trained');
    const nlist = Number(head.readBigUInt64LE(NLIST_OFFSET));
    const nprobe = Number(head.readBigUInt64LE(NPROBE_OFFSET));
    // An empty IVF index is small (its centroids): its layout lets bulk adds skip faiss's add.
    const layout = head.readBigInt64LE(NTOTAL_OFFSET) === 0n ? parseEmptyIvf(all(), dimension) : null;
    return new FaissIndex(dimension, native, 'IVF', nlist, nprobe, layout);
  }

  /** The same index searching `nprobe` lists (a copy: serialize, patch, read back). */
  withNprobe(nprobe: number): FaissIndex {
    if (this.kind !== 'IVF' || this.nlist === null) throw new Error('nprobe applies to IVF indexes only');
    if (!Number.isInteger(nprobe) || nprobe < 1) throw new RangeError(`invalid nprobe ${nprobe}`);
    const probe = Math.min(nprobe, this.nlist);
    const bytes = this.serialize();
    bytes.writeBigUInt64LE(BigInt(probe), NPROBE_OFFSET);
    const copy = FaissIndex.deserialize(bytes, this.dimension);
    if (copy.nprobe !== probe) throw new Error('nprobe patch did not take');
    return copy;
  }

  get size(): number {
    return this.native.ntotal();
  }

  shape(): IndexShape {
    return { type: this.kind, nlist: this.nlist, nprobe: this.nprobe, trained: this.native.isTrained() };
  }

  /** Adds vectors; their labels are `size`, `size + 1`, ... */
  add(vectors: readonly Float32Array[]): void {
    if (vectors.length === 0) return;
    const data = new Float32Array(vectors.length * this.dimension);
    vectors.forEach((v, i) => {
      this.check(v);
      data.set(v, i * this.dimension);
    });
    this.addRows(data);
  }

  /** Adds row-major vectors (`dimension` floats each); their labels are `size`, `size + 1`, ... */
  addRows(data: Float32Array): void {
    const d = this.dimension;
    if (data.length % d !== 0) throw new RangeError(`${data.length} floats are not rows of ${d}`);
    const n = data.length / d;
    if (n === 0) return;
    if (!this.native.isTrained()) throw new Error('the IVF index is not trained; nothing can be added');
    checkFinite(data);
    // IVF parts carry the centroids and cost a quantizer search (the JS array faiss's add reads
    // too): worth it for batches as large as the lists are many.
    if (n >= SERIALIZED_ADD_MIN && (this.kind === 'Flat' || (this.ivf && n >= this.ivf.nlist))) {
      this.addSerialized(data, n);
      return;
    }
    const perCall = Math.max(1, Math.floor(MAX_FLOATS_PER_CALL / d));
    for (let start = 0; start < n; start += perCall) {
      this.native.add(Array.from(data.subarray(start * d, Math.min(n, start + perCall) * d)));
    }
  }

  /**
   * The same index as faiss's add makes, built in faiss's own layout (faiss-format.ts) and merged
   * in: a Flat part is a header and the floats; an IVF part holds each row in the list of its
   * nearest centroid (the quantizer's answer, as faiss's add asks it), ids = labels.
   */
  private addSerialized(data: Float32Array, n: number): void {
    const d = this.dimension;
    const rowsPerPart = Math.max(SERIALIZED_ADD_MIN, Math.floor(SERIALIZED_ADD_FLOATS / d));
    for (let from = 0; from < n; from += rowsPerPart) {
      const to = Math.min(n, from + rowsPerPart);
      const rows = data.subarray(from * d, to * d);
      const parts = this.ivf
        ? ivfParts(this.ivf, rows, this.assign(this.ivf, rows), this.size)
        : [flatHeader(d, to - from), bytesOf(rows)];
      const part = readParts(parts);
      if (part.ntotal() !== to - from || part.getDimension() !== d)
        throw new Error('serialized index part has the wrong size');
      this.native.mergeFrom(part);
    }
  }

  /**
   * The bytes of an IVF index holding `rows` with labels `firstLabel` onwards, in lists of
   * this (empty, trained) index's centroids: a part for mergeFile. For filling in other processes.
   */
  ivfPartOf(rows: Float32Array, firstLabel: number): Buffer[] {
    if (!this.ivf) throw new Error('only an IVF index read or trained empty knows its lists');
    if (rows.length % this.dimension !== 0)
      throw new RangeError(`${rows.length} floats are not rows of ${this.dimension}`);
    checkFinite(rows);
    return ivfParts(this.ivf, rows, this.assign(this.ivf, rows), firstLabel);
  }

  /**
   * Appends the vectors of an IVF index file made by ivfPartOf from this index's centroids
   * (same type, dimension and nlist, checked before the merge; faiss does not compare centroids).
   * Returns the number of vectors added.
   */
  mergeFile(path: string): number {
    if (this.kind !== 'IVF') throw new Error('only IVF parts are merged from files');
    const part = FaissIndex.readFile(path, this.dimension);
    if (part.kind !== 'IVF' || part.nlist !== this.nlist)
      throw new Error(`part is ${part.kind}${part.nlist ?? ''}, not IVF${this.nlist}`);
    const added = part.size;
    this.native.mergeFrom(part.native);
    return added;
  }

  /** Each row's list: its nearest centroid by the quantizer, asked in balanced batches. */
  private assign(ivf: IvfLayout, rows: Float32Array): Int32Array {
    const d = this.dimension;
    const n = rows.length / d;
    this.quantizer ??= readParts([flatHeader(d, ivf.nlist), bytesOf(ivf.centroids)]);
    // Batches of similar size, so none falls below faiss's BLAS threshold when n does not.
    const per = Math.ceil(n / Math.ceil((n * d) / MAX_FLOATS_PER_CALL));
    const out = new Int32Array(n);
    for (let from = 0; from < n; from += per) {
      const to = Math.min(n, from + per);
      const { labels } = this.quantizer.search(Array.from(rows.subarray(from * d, to * d)), 1);
      for (let i = 0; i < to - from; i++) out[from + i] = labels[i]!;
    }
    return out;
  }

  /** k nearest for each query; fewer when the index holds fewer vectors (or IVF lists run dry). */
  search(queries: readonly Float32Array[], k: number): SearchHits[] {
    const n = this.size;
    const kk = Math.min(Math.floor(k), n);
    if (queries.length === 0) return [];
    if (kk < 1) return queries.map(() => ({ labels: [], scores: [] }));
    for (const q of queries) this.check(q);
    // A flat index answers 20 or more queries with one BLAS matrix product and fewer with a
    // scan per query, which is several times slower per query (the bench's batched rows show
    // it). Small batches are padded with copies of their first query; the copies' results are
    // dropped.
    const pad = this.kind === 'Flat' && queries.length >= MIN_PADDED_BATCH && queries.length < BLAS_BATCH;
    const rows = pad ? BLAS_BATCH : queries.length;
    const flat = new Array<number>(rows * this.dimension);
    let o = 0;
    for (const q of queries) for (let i = 0; i < q.length; i++) flat[o++] = q[i]!;
    for (let r = queries.length; r < rows; r++) for (let i = 0; i < this.dimension; i++) flat[o++] = queries[0]![i]!;
    const { labels, distances } = this.native.search(flat, kk);
    return queries.map((_, qi) => {
      const out: SearchHits = { labels: [], scores: [] };
      for (let j = qi * kk; j < (qi + 1) * kk; j++) {
        const label = labels[j]!;
        if (label < 0) continue;
        out.labels.push(label);
        out.scores.push(distances[j]!);
      }
      return out;
    });
  }

  /**
   * Removes labels from a flat index, which compacts: every label after a removed one shifts
   * down by the number of removed labels before it. The caller remaps its ids accordingly.
   * (On IVF, removal keeps labels but lowers ntotal, so the next add would reuse labels: IVF
   * indexes are compacted by rebuilding instead.)
   */
  remove(labels: readonly number[]): number {
    if (this.kind !== 'Flat') throw new Error('only a flat index can remove vectors in place');
    const valid = [...new Set(labels)].filter((l) => Number.isInteger(l) && l >= 0 && l < this.size);
    if (valid.length === 0) return 0;
    return this.native.removeIds(valid);
  }

  /** faiss-node's toBuffer leaks a copy of the index (its writer is never freed): short-lived processes only. */
  serialize(): Buffer {
    return this.native.toBuffer();
  }

  /**
   * faiss writes the index into `path` from the start, truncating. If faiss cannot open it, the
   * process aborts: callers pass a file they opened themselves (a /proc/self/fd path, see proc-fd.ts).
   */
  writeFile(path: string): void {
    this.native.write(path);
  }

  private check(v: Float32Array): void {
    if (v.length !== this.dimension) {
      throw new RangeError(`vector has dimension ${v.length}, the index expects ${this.dimension}`);
    }
    checkFinite(v);
  }
}

function bytesOf(data: Float32Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Reads an index from bytes in faiss's layout through a temporary file (faiss-node's fromBuffer
 * leaks its copy). The file is our own, opened first: faiss reads it through /proc/self/fd.
 */
function readParts(parts: readonly Buffer[]): NativeIndex {
  const path = join(tmpdir(), `vmm-faiss-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(path, 'wx+', 0o600);
  try {
    for (const p of parts) for (let off = 0; off < p.length;) off += writeSync(fd, p, off, p.length - off);
    return loadFaiss().Index.read(fdPath(fd, path));
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}

function checkDimension(dimension: number): void {
  if (!Number.isInteger(dimension) || dimension < 1 || dimension > 65_536) {
    throw new RangeError(`invalid index dimension ${dimension}`);
  }
}

function checkFinite(v: Float32Array): void {
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i]!)) throw new RangeError('vector contains a non-finite value');
  }
}
