import { MemoryError } from '../shared/errors.js';
import { BackfillStatusShape } from '../backfill/backfill-schemas.js';
import { defineTool } from './tool-kit.js';

export const backfillStatusTool = defineTool({
  name: 'backfill_status',
  title: 'Backfill status',
  description:
    'Reports the embedding backfill: how many records are pending, in progress, done and failed (per namespace, ' +
    'and per graph and label for FalkorDB nodes written by other tools), the run in progress (current batch, ' +
    'throughput, ETA), the last run (start, end, outcome) and the most recent failures with their reasons.',
  inputSchema: {},
  outputSchema: BackfillStatusShape,
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
