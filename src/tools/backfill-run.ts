import { z } from 'zod';
import { MemoryError } from '../shared/errors.js';
import { BackfillRunSchema } from './backfill-schemas.js';
import { defineTool } from './tool-kit.js';

export const backfillRunTool = defineTool({
  name: 'backfill_run',
  title: 'Run the backfill',
  description:
    'Embeds every record that lacks an embedding from the configured model (newest first), or joins the run in ' +
    'progress. Optional scope: namespace; graph and label (FalkorDB nodes written by other tools); limit. ' +
    'With wait: true it returns when the run ends and reports progress meanwhile; otherwise it returns at once ' +
    'with a run id that backfill_status reports on.',
  inputSchema: {
    namespace: z.string().optional().describe('only memories of this namespace (FalkorDB: or nodes of this graph)'),
    graph: z.string().optional().describe('FalkorDB only: only nodes of this graph'),
    label: z.string().optional().describe('FalkorDB only: only nodes with this label'),
    limit: z.number().int().min(1, 'limit must be at least 1').optional().describe('embed at most this many'),
    wait: z.boolean().optional().describe('return when the run ends (default false)'),
  },
  outputSchema: {
    run_id: z.string(),
    joined: z.boolean().describe('true when a run was already in progress and this call joined it'),
    run: BackfillRunSchema,
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handle(args, { backfill, service }, extra) {
    if (!backfill) throw new MemoryError('INTERNAL', 'this server has no backfill job');
    if ((args.graph !== undefined || args.label !== undefined) && service.store.kind !== 'falkordb') {
      throw new MemoryError('INVALID_INPUT', 'graph and label apply to the FalkorDB store only', {
        hint: 'use namespace, or set FALKORDB_URL',
      });
    }
    const started = backfill.run({
      trigger: 'manual',
      scope: { namespace: args.namespace, graph: args.graph, label: args.label },
      limit: args.limit,
      ...(args.wait
        ? {
            onProgress: (run) =>
              extra.progress(
                run.embedded + run.failed,
                Math.max(run.planned, run.embedded + run.failed),
                `${run.embedded} embedded, ${run.failed} failed`,
              ),
          }
        : {}),
    });
    const run = args.wait ? await started.done : { ...started.run };
    const verb = started.joined ? 'joined run' : 'started run';
    const text = args.wait
      ? `${verb} ${run.id}: ${run.outcome}, ${run.embedded} embedded, ${run.failed} failed` +
        (run.error ? ` (${run.error})` : '')
      : `${verb} ${run.id}; backfill_status reports on it`;
    return { structured: { run_id: run.id, joined: started.joined, run }, text };
  },
});
