// The backfill job's status and runs as they go on the wire (backfill_status, backfill_run,
// memory://status): the schemas are the source, the TypeScript types are inferred from them.
import { z } from 'zod';
import { BreakerStatusSchema } from '../embeddings/circuit-breaker.js';

const Counts = z.object({ pending: z.number(), done: z.number(), failed: z.number() });

export const BackfillRunSchema = z.object({
  id: z.string(),
  trigger: z.enum(['startup', 'interval', 'write', 'manual', 'cli']),
  scope: z.object({
    namespace: z.string().optional(),
    graph: z.string().optional(),
    label: z.string().optional(),
    limit: z.number().optional(),
  }),
  started_at: z.string(),
  ended_at: z.string().nullable(),
  outcome: z.enum(['running', 'completed', 'limit_reached', 'failed', 'stopped']),
  error: z.string().nullable(),
  planned: z.number().describe('records in scope that needed an embedding when the run started (capped by limit)'),
  embedded: z.number(),
  failed: z.number(),
  skipped: z.number().describe('records whose text changed while they were being embedded (left for the next run)'),
  in_progress: z.number(),
  current_batch: z.object({ size: z.number(), started_at: z.string() }).nullable(),
  throughput_per_s: z.number().nullable(),
  eta_s: z.number().nullable(),
});

export const BackfillFailureSchema = z.object({
  id: z.string(),
  namespace: z.string(),
  error: z.string(),
  permanent: z.boolean(),
  at: z.string(),
});

export const BackfillStatusShape = {
  state: z.enum(['idle', 'running']),
  provider: z.object({
    name: z.string(),
    model: z.string(),
    fingerprint: z.string().nullable(),
    circuit: BreakerStatusSchema.nullable(),
  }),
  counts: z.object({
    pending: z.number(),
    in_progress: z.number(),
    done: z.number(),
    failed: z.number(),
    by_namespace: z.array(Counts.extend({ namespace: z.string() })),
    by_graph_label: z.array(Counts.extend({ graph: z.string(), label: z.string() })).nullable(),
  }),
  current: BackfillRunSchema.nullable(),
  last: BackfillRunSchema.nullable(),
  recent_failures: z.array(BackfillFailureSchema),
  next_run_at: z.string().nullable(),
};

export const BackfillStatusSchema = z.object(BackfillStatusShape);
export type BackfillRun = z.infer<typeof BackfillRunSchema>;
export type BackfillFailure = z.infer<typeof BackfillFailureSchema>;
export type BackfillStatus = z.infer<typeof BackfillStatusSchema>;
export type BackfillTrigger = BackfillRun['trigger'];
export type BackfillOutcome = BackfillRun['outcome'];
