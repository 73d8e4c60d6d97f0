// The part of faiss-node 0.5.1's API this project calls, typed here: the build must not need the
// package itself, which npm removes when its own install fails (the postinstall then builds it
// into native/faiss-node, see faiss-index.ts).

export interface SearchResult {
  distances: number[];
  labels: number[];
}

export interface NativeIndex {
  ntotal(): number;
  getDimension(): number;
  isTrained(): boolean;
  add(x: number[]): void;
  train(x: number[]): void;
  search(x: number[], k: number): SearchResult;
  removeIds(ids: number[]): number;
  /** Moves every vector of `other` (same type and shape) to the end of this index. */
  mergeFrom(other: NativeIndex): void;
  toBuffer(): Buffer;
  write(fname: string): void;
}

export interface FaissModule {
  Index: {
    fromFactory(dims: number, descriptor: string, metric?: number): NativeIndex;
    read(fname: string): NativeIndex;
    fromBuffer(src: Buffer): NativeIndex;
  };
  IndexFlatIP: new (d: number) => NativeIndex;
  MetricType: { METRIC_INNER_PRODUCT: number };
}
