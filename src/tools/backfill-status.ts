import { MemoryError } from '../shared/errors.js';
import { z } from 'zod';
import type { BackfillStatus } from '../backfill/backfill-schemas.js';
import { defineTool, freeObject } from './tool-kit.js';

/** What clients are shown: the totals in full, the rest as objects (README lists their fields). */
const Published = {
  state: z.enum(['idle', 'running']),
  counts: z.object({ pending: z.number(), in_progress: z.number(), done: z.number(), failed: z.number() }).loose(),
  provider: freeObject('the embedding provider and its circuit breaker'),
  current: freeObject('the run in progress: batch, throughput, ETA').nullable(),
  last: freeObject('the last run: start, end, outcome').nullable(),
  recent_failures: z.array(freeObject('a record that could not be embedded, and why')),
  next_run_at: z.string().nullable(),
};

export const backfillStatusTool = defineTool<Record<never, never>, typeof Published, BackfillStatus>({
  name: 'backfill_status',
  title: 'Backfill status',
  description: 'The background embedder: counts by state, current and last run, recent failures.',
  inputSchema: {},
  outputSchema: Published,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handle(_args, { backfill }) {
    if (!backfill) throw new MemoryError('INTERNAL', 'this server has no backfill job');
    const s = await backfill.status();
    const lines = [
      `backfill ${s.state}: ${s.counts.pending} pending, ${s.counts.in_progress} in progress, ` +
        `${s.counts.done} done, ${s.counts.failed} failed (provider ${s.provider.name}/${s.provider.model})`,
    ];
    if (s.current) {
      lines.push(
        `run ${s.current.id}: ${s.current.embedded}/${s.current.planned} embedded` +
          (s.current.throughput_per_s !== null ? `, ${s.current.throughput_per_s}/s` : '') +
          (s.current.eta_s !== null ? `, ETA ${s.current.eta_s} s` : ''),
      );
    }
    if (s.last) {
      lines.push(
        `last run ${s.last.id}: ${s.last.outcome}, ${s.last.embedded} embedded, ${s.last.failed} failed` +
          (s.last.error ? ` (${s.last.error})` : ''),
      );
    }
    for (const f of s.recent_failures.slice(0, 5)) lines.push(`failed ${f.id}: ${f.error}`);
    return { structured: s, text: lines.join('\n') };
  },
});
