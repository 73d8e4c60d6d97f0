// What the memory, health and tool layers see of a search index. Two implementations: the
// IndexManager (FAISS in this process, a cache of the store proven and caught up from its change
// sequence) and the StoreSearchIndex (the store's own vector index, FalkorDB's HNSW, for
// instances that keep nothing locally: MEMORY_SEARCH_INDEX=falkordb).
import type { WriteFailure } from './persistence.js';
import type { IndexShape } from './faiss/faiss-host.js';
import type { TrainingAttempt, Progress } from './generation-builder.js';
import type { Hit, TrainingInfo } from './index-state.js';

export type { Hit } from './index-state.js';
import type { SyncRepair, VerifyReport } from './verify.js';

export interface SearchIndex {
  readonly fingerprint: string;
  readonly dimension: number;
  /** The previous model's index during a model change: serves as it is, never changes. */
  readonly frozen: boolean;
  /** Open and answering searches. */
  readonly serving: boolean;
  /** Memories it can return. */
  readonly liveCount: number;
  /** Vectors this process holds for it, tombstones included (what MEMORY_MAX_INDEX_BYTES counts). */
  readonly vectorCount: number;
  open(): Promise<OpenReport>;
  /** Takes in every store change committed before this call. */
  sync(signal?: AbortSignal): Promise<void>;
  /** Nearest live memories for each query (cosine, best first). */
  search(queries: readonly Float32Array[], k: number, signal?: AbortSignal): Promise<Hit[][]>;
  /** `n` ids of memories it holds, drawn at random (recall measurements). */
  sampleIds(n: number): Promise<string[]>;
  verify(): Promise<VerifyReport>;
  repairSync(dryRun: boolean): Promise<SyncRepair>;
  rebuild(onProgress?: Progress, why?: string): Promise<{ vectors: number; ms: number }>;
  persist(options?: { force?: boolean }): Promise<void>;
  close(): Promise<void>;
  /** Closes and deletes what it keeps on disk. */
  discard(): Promise<void>;
  stats(): IndexStats;
}

/** Why the index is recovering (or failed to), since when, and the attempts made so far. */
export interface RecoveryInfo {
  reason: string;
  since: string;
  attempts: number;
}

export interface OpenReport {
  /** store: nothing loaded, the store's own index serves (MEMORY_SEARCH_INDEX=falkordb). */
  source: 'snapshot' | 'rebuilt' | 'store';
  reason?: string;
  vectors: number;
  ms: number;
  /** How a snapshot was proven to match the store (its ids, or first its counts and a sample). */
  proof?: string;
}

export interface IndexStats {
  state: 'closed' | 'opening' | 'ready' | 'recovering' | 'failed';
  /** Set while recovering from a lost FAISS worker, and kept when that failed; null otherwise. */
  recovery: RecoveryInfo | null;
  /** Recoveries completed since start (each after a lost FAISS worker). */
  recoveries: number;
  /** Flat and IVF: FAISS, in this process; HNSW: FalkorDB's vector index (MEMORY_SEARCH_INDEX=falkordb). */
  type: IndexShape['type'] | 'HNSW';
  nlist: number | null;
  nprobe: number | null;
  trained: boolean;
  trainingSetSize: number | null;
  vectorsPerList: number | null;
  training: TrainingInfo | null;
  lastTrainingAttempt: TrainingAttempt | null;
  /** The index shape the collection size calls for, and why. */
  plan: string;
  /** A background rebuild is running (resize, retrain or IVF compaction), and why. */
  reshaping: string | null;
  fingerprint: string;
  dimension: number;
  vectors: number;
  live: number;
  tombstones: number;
  appliedSeq: number;
  lastPersistAt: string | null;
  lastPersistSeq: number | null;
  /** Snapshot writes keep failing: the last error and since when (null once one succeeds). */
  persistFailure: WriteFailure | null;
  /** null: no snapshot (the store's own index serves). */
  snapshotPath: string | null;
  snapshotBytes: number | null;
  /** Bytes the vectors take in memory (the id map comes on top). */
  memoryBytes: number;
  lastOpen: OpenReport | null;
  lastRebuild: { at: string; vectors: number; ms: number } | null;
  queued: number;
  compactions: number;
  /** Persists skipped because another process held the snapshot lock. */
  persistSkipped: number;
  /** search() calls answered, and the FAISS calls that answered them (micro-batching). */
  searchCalls: number;
  searchBatches: number;
  activity: string;
}
