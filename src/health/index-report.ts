// The search index's state as it goes on the wire (index_health, memory://status): snake_case,
// described by a schema that the tools declare as their output.
import { z } from 'zod';
import type { IndexStats } from '../index/index-manager.js';
import type { MigrationStatus } from '../memory/model-migration.js';

const Curve = z.array(z.object({ nprobe: z.number(), recall: z.number() }));

export const IndexReportSchema = z.object({
  state: z.enum(['closed', 'opening', 'ready', 'recovering', 'failed']),
  recovery: z
    .object({ reason: z.string(), since: z.string(), attempts: z.number() })
    .nullable()
    .describe('while recovering from a lost FAISS worker (kept when that failed): why, since when, attempts'),
  recoveries: z.number().describe('recoveries completed since start, each after the FAISS worker stopped'),
  type: z.enum(['Flat', 'IVF', 'HNSW']).describe("Flat, IVF: FAISS in this process; HNSW: FalkorDB's vector index"),
  nlist: z.number().nullable(),
  nprobe: z.number().nullable(),
  trained: z.boolean(),
  training_set_size: z.number().nullable(),
  vectors_per_list: z.number().nullable(),
  training: z
    .object({
      nlist: z.number(),
      nprobe: z.number(),
      training_set_size: z.number(),
      trained_at: z.string(),
      train_ms: z.number(),
      tune_ms: z.number(),
      curve: Curve.describe('recall@10 against exact search on the tuning sample, by nprobe'),
    })
    .nullable(),
  last_training_attempt: z
    .object({
      at: z.string(),
      vectors: z.number(),
      nlist: z.number(),
      outcome: z.enum(['kept', 'refused']),
      reason: z.string(),
      training_set_size: z.number(),
      nprobe: z.number().nullable(),
      curve: Curve,
      train_ms: z.number(),
      tune_ms: z.number(),
    })
    .nullable(),
  plan: z.string().describe('the index shape the collection size calls for, and why'),
  reshaping: z.string().nullable().describe('why a background rebuild is running, if one is'),
  fingerprint: z.string(),
  dimension: z.number(),
  vectors: z.number(),
  live: z.number(),
  tombstones: z.number(),
  applied_seq: z.number(),
  last_persist_at: z.string().nullable(),
  last_persist_seq: z.number().nullable(),
  persist_failure: z
    .object({ at: z.string(), since: z.string(), error: z.string() })
    .nullable()
    .describe('snapshot writes keep failing: the last error and since when'),
  snapshot_path: z.string().nullable(),
  snapshot_bytes: z.number().nullable(),
  memory_bytes: z.number(),
  last_open: z
    .object({
      source: z.enum(['snapshot', 'rebuilt', 'store']),
      reason: z.string().optional(),
      vectors: z.number(),
      ms: z.number(),
      proof: z.string().optional().describe('how the snapshot was proven to match the store'),
    })
    .nullable(),
  last_rebuild: z.object({ at: z.string(), vectors: z.number(), ms: z.number() }).nullable(),
  queued: z.number(),
  compactions: z.number(),
  persist_skipped: z.number().describe('snapshot writes skipped because another process held the lock'),
  search_calls: z.number(),
  search_batches: z.number().describe('FAISS calls that answered search_calls (micro-batching)'),
  activity: z.string(),
});
export type IndexReport = z.infer<typeof IndexReportSchema>;

export function indexReport(s: IndexStats): IndexReport {
  const t = s.training;
  const a = s.lastTrainingAttempt;
  return {
    state: s.state,
    recovery: s.recovery,
    recoveries: s.recoveries,
    type: s.type,
    nlist: s.nlist,
    nprobe: s.nprobe,
    trained: s.trained,
    training_set_size: s.trainingSetSize,
    vectors_per_list: s.vectorsPerList,
    training: t && {
      nlist: t.nlist,
      nprobe: t.nprobe,
      training_set_size: t.trainingSetSize,
      trained_at: t.trainedAt,
      train_ms: t.trainMs,
      tune_ms: t.tuneMs,
      curve: t.curve,
    },
    last_training_attempt: a && {
      at: a.at,
      vectors: a.vectors,
      nlist: a.nlist,
      outcome: a.outcome,
      reason: a.reason,
      training_set_size: a.trainingSetSize,
      nprobe: a.nprobe,
      curve: a.curve,
      train_ms: a.trainMs,
      tune_ms: a.tuneMs,
    },
    plan: s.plan,
    reshaping: s.reshaping,
    fingerprint: s.fingerprint,
    dimension: s.dimension,
    vectors: s.vectors,
    live: s.live,
    tombstones: s.tombstones,
    applied_seq: s.appliedSeq,
    last_persist_at: s.lastPersistAt,
    last_persist_seq: s.lastPersistSeq,
    persist_failure: s.persistFailure,
    snapshot_path: s.snapshotPath,
    snapshot_bytes: s.snapshotBytes,
    memory_bytes: s.memoryBytes,
    last_open: s.lastOpen,
    last_rebuild: s.lastRebuild,
    queued: s.queued,
    compactions: s.compactions,
    persist_skipped: s.persistSkipped,
    search_calls: s.searchCalls,
    search_batches: s.searchBatches,
    activity: s.activity,
  };
}

export const MigrationSchema = z.object({
  from: z.string(),
  to: z.string(),
  done: z.number().describe('memories embedded by the new model'),
  total: z.number().describe('memories that have or will have a vector'),
  serving_previous: z
    .boolean()
    .describe(
      "searches also use the previous model's index, merged by rank; false: only re-embedded memories are found",
    ),
});
export type MigrationReport = z.infer<typeof MigrationSchema>;

export function migrationReport(m: MigrationStatus): MigrationReport {
  return { from: m.from, to: m.to, done: m.done, total: m.total, serving_previous: m.servingPrevious };
}
