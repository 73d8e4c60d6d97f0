// The only module that touches faiss-node. faiss-node aborts the whole process (no catchable
// error) on some invalid calls: search with k = 0, add of the wrong length, write into a
// missing folder. Every precondition is checked here, so those calls cannot happen.
import faissNode from 'faiss-node';

const { IndexFlatIP } = faissNode;
type NativeIndex = InstanceType<typeof IndexFlatIP>;

/** faiss-node reads plain JS arrays; one call is bounded by this many floats. */
const MAX_FLOATS_PER_CALL = 4_000_000;

/** FAISS's distance_compute_blas_threshold: from this many queries on, one BLAS call answers them all. */
const BLAS_BATCH = 20;
/** One or two queries are still faster scanned than padded to a BLAS batch. */
const MIN_PADDED_BATCH = 3;

export interface SearchHits {
  labels: number[];
  scores: number[];
}

/** Exact inner-product search over L2-normalized vectors (cosine similarity). */
export class FlatIndex {
  readonly dimension: number;
  private readonly native: NativeIndex;

  private constructor(dimension: number, native: NativeIndex) {
    this.dimension = dimension;
    this.native = native;
  }

  static create(dimension: number): FlatIndex {
    if (!Number.isInteger(dimension) || dimension < 1 || dimension > 65_536) {
      throw new RangeError(`invalid index dimension ${dimension}`);
    }
    return new FlatIndex(dimension, new IndexFlatIP(dimension));
  }

  /** Restores a serialized index; throws (catchably) when it is not a flat IP index of this dimension. */
  static deserialize(bytes: Buffer, dimension: number): FlatIndex {
    const native = IndexFlatIP.fromBuffer(bytes);
    if (native.getDimension() !== dimension) {
      throw new Error(`index has dimension ${native.getDimension()}, expected ${dimension}`);
    }
    return new FlatIndex(dimension, native);
  }

  get size(): number {
    return this.native.ntotal();
  }

  add(vectors: readonly Float32Array[]): void {
    if (vectors.length === 0) return;
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

  /** k nearest for each query; fewer when the index holds fewer vectors. */
  search(queries: readonly Float32Array[], k: number): SearchHits[] {
    const n = this.size;
    const kk = Math.min(Math.floor(k), n);
    if (queries.length === 0) return [];
    if (kk < 1) return queries.map(() => ({ labels: [], scores: [] }));
    for (const q of queries) this.check(q);
    // FAISS answers 20 or more queries with one BLAS matrix product and fewer with a scan per
    // query, which is about 7 times slower per query here (19 queries over 100k x 384: 214 ms;
    // 20: 32 ms). Small batches are padded with copies of their first query; the copies'
    // results are dropped.
    const rows = queries.length >= MIN_PADDED_BATCH && queries.length < BLAS_BATCH ? BLAS_BATCH : queries.length;
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
   * Removes labels. A flat index compacts: every label after a removed one shifts down by
   * the number of removed labels before it. The caller remaps its ids accordingly.
   */
  remove(labels: readonly number[]): number {
    const valid = [...new Set(labels)].filter((l) => Number.isInteger(l) && l >= 0 && l < this.size);
    if (valid.length === 0) return 0;
    return this.native.removeIds(valid);
  }

  serialize(): Buffer {
    return this.native.toBuffer();
  }

  private check(v: Float32Array): void {
    if (v.length !== this.dimension) {
      throw new RangeError(`vector has dimension ${v.length}, the index expects ${this.dimension}`);
    }
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i]!)) throw new RangeError('vector contains a non-finite value');
    }
  }
}
