import { MemoryError } from '../shared/errors.js';
import { HealthReportSchema, healthReport } from '../health/health-report.js';
import { defineTool } from './tool-kit.js';

export const indexHealthTool = defineTool({
  name: 'index_health',
  title: 'Index health',
  description:
    'Checks the search index against the store and reports: counts on both sides, memories missing from the index ' +
    'and vectors that belong to no memory (counts and samples), pending and failed embeddings, the index model ' +
    'against the configured one, index type and parameters, recall@10 measured on a sample, memory and file size, ' +
    'the last snapshot, size limits, event-loop lag, and a verdict (ok / degraded / failing) with its reasons.',
  inputSchema: {},
  outputSchema: HealthReportSchema.shape,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handle(_args, { health }) {
    if (!health) throw new MemoryError('INTERNAL', 'this server has no health report');
    const r = await healthReport(health);
    const lines = [`index ${r.status}`, ...r.reasons.map((x) => `- ${x.severity}: ${x.message}`)];
    return { structured: r, text: lines.join('\n') };
  },
});
