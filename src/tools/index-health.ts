import { MemoryError } from '../shared/errors.js';
import { z } from 'zod';
import { healthReport, type HealthReport } from '../health/health-report.js';
import { defineTool, freeObject } from './tool-kit.js';

const Reason = z.object({ code: z.string(), severity: z.enum(['degraded', 'failing']), message: z.string() });

/** What clients are shown: the verdict in full, the figures as objects (README lists their fields). */
const Published = {
  status: z.enum(['ok', 'degraded', 'failing']),
  reasons: z.array(Reason),
  checked_at: z.string(),
  provider: freeObject('the embedding provider and its circuit breaker'),
  store: freeObject('memories: total, embedded by this model, pending, failed, of another model'),
  index: freeObject('the search index: type, sizes, training, snapshot, missing and extra ids').nullable(),
  migration: freeObject('a model change in progress').nullable(),
  recall: freeObject('recall@10 against exact search, on a sample').nullable(),
  limits: freeObject('size limits and use'),
  event_loop: freeObject('event-loop delay'),
  keyword: freeObject('the keyword index against the store').nullable(),
};

export const indexHealthTool = defineTool<Record<never, never>, typeof Published, HealthReport>({
  name: 'index_health',
  title: 'Index health',
  description:
    'Checks the search and keyword indexes against the store: a verdict (ok, degraded, failing), its reasons, ' +
    'the figures behind them.',
  inputSchema: {},
  outputSchema: Published,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handle(_args, { health }) {
    if (!health) throw new MemoryError('INTERNAL', 'this server has no health report');
    const r = await healthReport(health);
    const lines = [`index ${r.status}`, ...r.reasons.map((x) => `- ${x.severity}: ${x.message}`)];
    return { structured: r, text: lines.join('\n') };
  },
});
