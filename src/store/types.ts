// The store is the source of truth: text, metadata, tags, the embedding and the fingerprint
// of the model that made it. Every change takes the next number of one monotonic sequence;
// the search index is a view rebuilt or caught up from that sequence.
import type { KeywordTerms } from './keyword-query.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type Metadata = { [key: string]: JsonValue };
export type EmbeddingStatus = 'pending' | 'done' | 'failed';

export interface EmbeddingState {
  status: EmbeddingStatus;
  /** Fingerprint of the model that made the stored vector (null while pending). */
  fingerprint: string | null;
  attempts: number;
  lastError: string | null;
}

export interface MemoryRecord {
  id: string;
  namespace: string;
  text: string;
  /** sha256 of the text: an embedding is only accepted for the text it was made from. */
  contentHash: string;
  metadata: Metadata;
  tags: string[];
  createdAt: string;
  updatedAt: string;
  /** Sequence number of the last change to this record. */
  seq: number;
  embedding: EmbeddingState;
  /** Set for a node written by another tool (FalkorDB): where it lives. */
  origin?: Origin;
}

/** Where a memory written by another tool lives (FalkorDB graph and internal node id). */
export interface Origin {
  graph: string;
  nodeId: number;
  labels: string[];
}

export interface StoredVector {
  vector: Float32Array;
  fingerprint: string;
}

/** A full write: creates the memory, or replaces every field of an existing one. */
export interface MemoryWrite {
  id: string;
  namespace: string;
  text: string;
  metadata: Metadata;
  tags: string[];
  /** The embedding of `text`, or null when it could not be made yet (stored as pending). */
  embedding: StoredVector | null;
  /** Set when embedding was attempted and failed, to record the reason. */
  embeddingError?: string | undefined;
  /** Times to keep (an import): ISO 8601 UTC as toISOString() writes them. Default: now, and an existing creation time. */
  times?: { createdAt: string; updatedAt: string } | undefined;
}

/** An embedding for a record, accepted only while the record has the text it was made from. */
export interface EmbeddingWrite {
  id: string;
  contentHash: string;
  vector: StoredVector;
  origin?: Origin | undefined;
}

/** A partial update. When text changes, embedding must be the new text's (or null). */
export interface MemoryPatch {
  text?: string;
  metadata?: Metadata;
  tags?: string[];
  embedding?: StoredVector | null;
  embeddingError?: string | undefined;
}

export type ChangeEvent =
  | { seq: number; kind: 'upsert'; record: MemoryRecord; vector: StoredVector | null }
  | { seq: number; kind: 'delete'; id: string };

export interface ChangePage {
  events: ChangeEvent[];
  /** Every change with seq <= this is included in this page or an earlier one. */
  toSeq: number;
  /** More changes follow toSeq. */
  more: boolean;
}

export interface EmbeddingFailure {
  fingerprint: string;
  error: string;
  permanent: boolean;
  maxAttempts: number;
}

/** Narrows what the backfill looks at. graph and label apply to FalkorDB only. */
export interface BackfillScope {
  namespace?: string | undefined;
  graph?: string | undefined;
  label?: string | undefined;
}

/**
 * Where a backfill run's descent has got to: a page lists only below it, so it does not pass
 * again over what the run embedded (own memories move to the top of the sequence).
 */
export interface ListingCursor {
  /** The store's own memories: below this sequence number. */
  seq?: number | undefined;
  /** Nodes of other tools, per graph: below this node id (0: nothing left in that graph). */
  nodes?: Readonly<Record<string, number>> | undefined;
}

export interface ListingPage {
  records: MemoryRecord[];
  /** Graphs of other tools listed down to their lowest node: nothing more below the cursor there. */
  walked: string[];
}

export interface EmbeddingCount {
  namespace: string;
  /** No embedding of the current model yet (new, pending, or made by another model). */
  pending: number;
  done: number;
  /** Failed under the current model; retried only when the record or the model changes. */
  failed: number;
}

export interface ForeignCount {
  graph: string;
  label: string;
  pending: number;
  done: number;
  failed: number;
}

/** Nodes written by other tools, which the backfill embeds in place (FalkorDB). */
export interface ForeignNodes {
  /** Embedding counts per graph and label. */
  counts(fingerprint: string): Promise<ForeignCount[]>;
  /**
   * Drops references to nodes deleted or changed by their own tool, and registers nodes that
   * already carry an embedding of this fingerprint.
   */
  reconcile(fingerprint: string): Promise<{ removed: number; changed: number; adopted: number }>;
}

export interface StoreStats {
  total: number;
  pending: number;
  done: number;
  failed: number;
  headSeq: number;
}

/** Which memories a search may return: filters the store applies itself. */
export interface RecordFilter {
  namespace?: string | undefined;
  /** Every one of these tags. */
  tags?: readonly string[] | undefined;
  /** ISO 8601 UTC bounds: after is inclusive, before exclusive. */
  createdAfter?: string | undefined;
  createdBefore?: string | undefined;
  updatedAfter?: string | undefined;
  updatedBefore?: string | undefined;
}

/** A page of memories in creation order, after a position (keyset pagination). */
export interface ListQuery {
  filter: RecordFilter;
  order: 'newest' | 'oldest';
  /** The last memory of the previous page: the page starts just past it. */
  after?: { createdAt: string; id: string } | undefined;
  limit: number;
}

export interface KeywordHit {
  id: string;
  /** Higher is better (BM25, sign-flipped where the engine ranks lower-is-better). */
  score: number;
}

export interface KeywordIndexState {
  /** Memories the keyword index holds. */
  indexed: number;
  /** Memories in the store. */
  total: number;
  /** Memories written before the keyword index existed are still being added to it. */
  building: boolean;
}

/** The keyword (full-text) index of the memories' text, kept in the same transaction as every write. */
export interface KeywordIndex {
  /** Memories matching any of the terms, best first, within the filter. */
  search(terms: KeywordTerms, limit: number, filter: RecordFilter): Promise<KeywordHit[]>;
  /** Memories matching every one of the identifiers (as phrases), best first. */
  matchAll(identifiers: readonly string[], limit: number, filter: RecordFilter): Promise<KeywordHit[]>;
  /** Indexes up to `max` memories written before the index existed; false once none is left. */
  fillStep(max: number): Promise<boolean>;
  state(): Promise<KeywordIndexState>;
  /** Cheap: memories written before the index existed are still being added (searches say so). */
  building(): Promise<boolean>;
  /** Memories the index lacks and entries that belong to no memory (a sample of the first). */
  verify(sample: number): Promise<{ missing: number; extra: number; missingSample: string[] }>;
  /** Empties the index; fillStep then refills it from the store. */
  reset(): Promise<void>;
}

/** A FalkorDB vector index the server keeps for Cypher users (see store/falkordb/vector-indexes.ts). */
export interface VectorIndexState {
  graph: string;
  label: string;
  property: string;
  /** The dimension of the index FalkorDB holds (null: none). */
  dimension: number | null;
  /** The dimension the current model writes. */
  wanted: number;
  /** Nodes the index holds. */
  indexed: number | null;
  state: 'ready' | 'waiting_for_reembedding' | 'missing' | 'failed';
  /** Nodes still holding another model's vector (while waiting), or the last error. */
  detail?: string;
}

/** A nearest memory found by the store's own vector index: cosine similarity, higher is better. */
export interface VectorHit {
  id: string;
  score: number;
}

/**
 * Vector search served by the store itself (FalkorDB's HNSW indexes), for instances that keep no
 * local index (MEMORY_SEARCH_INDEX=falkordb): the store's own memories and the backfilled nodes of
 * other tools, each only with a vector of the given model.
 */
export interface StoreVectorSearch {
  /** The best `k` memories holding a vector of this model, best first (fewer only when there are no more). */
  search(vector: Float32Array, k: number, fingerprint: string): Promise<VectorHit[]>;
  /** Memories holding a vector of this model (the store's and other tools' registered nodes). */
  count(fingerprint: string): Promise<number>;
  /** The indexes searched, as the store holds them now, against this dimension; nothing is made. */
  inspect(dimension: number, fingerprint: string): Promise<VectorIndexState[]>;
  /**
   * Makes the store's own index exist with this dimension (as before a write) and, with
   * `everyGraph`, the index of every label of other tools' nodes holding this model's vectors
   * (a scan of those graphs: for repair); returns inspect().
   */
  ensure(dimension: number, fingerprint: string, everyGraph: boolean): Promise<VectorIndexState[]>;
  /** Drops and makes again the indexes searched; the store refills them from the nodes in the background. */
  recreate(dimension: number, fingerprint: string): Promise<void>;
  /** Models whose vectors the store holds, the most vectors first. */
  models(): Promise<{ fingerprint: string; live: number }[]>;
}

export interface MemoryStore {
  readonly kind: string;
  /** Where the data lives, for logs. */
  readonly location: string;
  open(): Promise<void>;
  close(): Promise<void>;

  /** Creates or replaces memories in one transaction; returns them as stored. */
  upsert(writes: readonly MemoryWrite[]): Promise<MemoryRecord[]>;
  /** Applies a partial update; null when the id does not exist. */
  patch(id: string, patch: MemoryPatch): Promise<MemoryRecord | null>;
  get(ids: readonly string[]): Promise<MemoryRecord[]>;
  /** Deletes in one transaction; returns the ids that existed. */
  delete(ids: readonly string[]): Promise<string[]>;

  /** Stores an embedding if the record still has the text it was made from. */
  setEmbedding(id: string, contentHash: string, vector: StoredVector, origin?: Origin): Promise<boolean>;
  /** setEmbedding for a batch, in as few transactions as the store allows; true where stored. */
  setEmbeddings(items: readonly EmbeddingWrite[]): Promise<boolean[]>;
  /** Counts a failed attempt; marks the memory failed when permanent or out of attempts. */
  recordEmbeddingFailure(id: string, contentHash: string, failure: EmbeddingFailure, origin?: Origin): Promise<void>;
  /**
   * Memories with no embedding of this fingerprint that are not marked failed, newest first
   * (own memories by sequence, then per graph nodes of other tools by node id), below `cursor`.
   */
  listNeedingEmbedding(
    fingerprint: string,
    limit: number,
    scope?: BackfillScope,
    cursor?: ListingCursor,
  ): Promise<ListingPage>;
  /** Embedding state per namespace, judged against this fingerprint. */
  embeddingCounts(fingerprint: string): Promise<EmbeddingCount[]>;
  /** Present when the store can embed nodes written by other tools (FalkorDB). */
  readonly foreign?: ForeignNodes;
  /** The keyword channel of hybrid search. */
  readonly keyword?: KeywordIndex;
  /** Vector indexes kept inside the store for its own query language (FalkorDB), written to since start. */
  readonly vectorIndexes?: { list(): Promise<VectorIndexState[]> };
  /** Vector search by the store's own indexes (FalkorDB). */
  readonly vectorSearch?: StoreVectorSearch;

  /** Memories in creation order (ties by id), within the filter, after a position. */
  list(query: ListQuery): Promise<MemoryRecord[]>;
  /** Memories within the filter. */
  countMatching(filter: RecordFilter): Promise<number>;
  /** Of these duplicate keys (store/dup-key.ts), the ones a memory of `namespace` already has, with its id. */
  duplicatesOf(namespace: string, keys: readonly string[]): Promise<Map<string, string>>;

  /** Changes after `afterSeq` in sequence order, at most `limit` events. */
  changesSince(afterSeq: number, limit: number): Promise<ChangePage>;
  /** Ids of every memory whose stored vector has this fingerprint. */
  embeddedIds(fingerprint: string): Promise<string[]>;
  /** The stored vectors of these memories, when made by this fingerprint. */
  vectorsOf(
    ids: readonly string[],
    fingerprint: string,
  ): Promise<{ id: string; contentHash: string; vector: Float32Array }[]>;
  headSeq(): Promise<number>;
  /** Number of memories (cheap: used on every write to enforce the size limit). */
  count(): Promise<number>;
  stats(): Promise<StoreStats>;
}
