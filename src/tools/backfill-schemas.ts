import { z } from 'zod';

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
  planned: z.number(),
  embedded: z.number(),
  failed: z.number(),
  skipped: z.number(),
  in_progress: z.number(),
  current_batch: z.object({ size: z.number(), started_at: z.string() }).nullable(),
  throughput_per_s: z.number().nullable(),
  eta_s: z.number().nullable(),
});

export const BackfillStatusShape = {
  state: z.enum(['idle', 'running']),
  provider: z.object({
    name: z.string(),
    model: z.string(),
    fingerprint: z.string().nullable(),
    circuit: z
      .object({
        state: z.enum(['closed', 'open', 'half_open']),
        consecutive_failures: z.number(),
        opened_at: z.string().nullable(),
        retry_at: z.string().nullable(),
        last_error: z.string().nullable(),
        times_opened: z.number(),
      })
      .nullable()
      .describe('the circuit breaker that stops calls to a provider that keeps failing'),
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
  recent_failures: z.array(
    z.object({ id: z.string(), namespace: z.string(), error: z.string(), permanent: z.boolean(), at: z.string() }),
  ),
  next_run_at: z.string().nullable(),
};
