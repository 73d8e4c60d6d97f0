// The only module that touches faiss-node. It runs in the FAISS worker thread (faiss-thread.ts)
// and in the IVF training process (ivf-worker.ts), never on the main thread. faiss-node aborts
// the whole process (no catchable error) on some invalid calls: search with k = 0, add of the
// wrong length, add to an untrained IVF index, training with fewer points than lists, write
// into a missing folder. Every precondition is checked here, so those calls cannot happen.
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FaissModule, NativeIndex } from './faiss-node-api.js';
import { MAX_TRAINING_FLOATS, MIN_POINTS_PER_LIST } from './faiss-limits.js';

/** The package's root (this file is src/index/faiss/ or dist/index/faiss/ in it). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/**
 * Where scripts/install-faiss.mjs builds faiss-node when npm could not install it: a folder of
 * the package itself, because npm deletes an optional dependency whose own install failed at the
 * end of a packaged install, even after our postinstall built it in place.
 */
export const OWNED_FAISS_DIR = `${PACKAGE_ROOT}native/faiss-node`;
export const FAISS_FIX = `node ${PACKAGE_ROOT}scripts/install-faiss.mjs (it builds faiss-node against the system's libfaiss; Debian/Ubuntu: apt-get install -y libfaiss-dev libopenblas-dev)`;

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

// Serialized IndexIVFFlat ("IwFl"): fourcc, d:int32, ntotal:int64, two int64, is_trained:u8,
// metric:int32, nlist:uint64, nprobe:uint64. faiss-node has no nprobe setter; patching these
// bytes and reading the index back is how a chosen nprobe reaches the search.
const IVF_FLAT_FOURCC = 'IwFl';
const FLAT_IP_FOURCC = 'IxFI';
const NLIST_OFFSET = 37;
const NPROBE_OFFSET = 45;

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

  private constructor(
    dimension: number,
    native: NativeIndex,
    kind: IndexKind,
    nlist: number | null,
    nprobe: number | null,
  ) {
    this.dimension = dimension;
    this.native = native;
    this.kind = kind;
    this.nlist = nlist;
    this.nprobe = nprobe;
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
    return new FaissIndex(dimension, native, 'IVF', nlist, 1);
  }

  /**
   * Restores a serialized Flat-IP or IVF-Flat index; throws (catchably) on anything else.
   * faiss-node's fromBuffer leaks a copy of the bytes (its reader is never freed): for
   * short-lived processes only (IVF training). Long-lived code reads files (`readFile`).
   */
  static deserialize(bytes: Buffer, dimension: number): FaissIndex {
    return FaissIndex.restore(bytes.subarray(0, NPROBE_OFFSET + 8), dimension, () =>
      loadFaiss().Index.fromBuffer(bytes),
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
    return FaissIndex.restore(head.subarray(0, got), dimension, () => loadFaiss().Index.read(path));
  }

  private static restore(head: Buffer, dimension: number, read: () => NativeIndex): FaissIndex {
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
    return new FaissIndex(dimension, native, 'IVF', nlist, nprobe);
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

  add(vectors: readonly Float32Array[]): void {
    if (vectors.length === 0) return;
    if (!this.native.isTrained()) throw new Error('the IVF index is not trained; nothing can be added');
    for (const v of vectors) this.check(v);
    const perCall = Math.max(1, Math.floor(MAX_FLOATS_PER_CALL / this.dimension));
    for (let start = 0; start < vectors.length; start += perCall) {
      const chunk = vectors.slice(start, start + perCall);
      const flat = new Array<number>(chunk.length * this.dimension);
      let o = 0;
      for (const v of chunk) for (let i = 0; i < v.length; i++) flat[o++] = v[i]!;
      this.native.add(flat);
    }
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
