import { z } from 'zod';
import { MemoryError } from '../shared/errors.js';
import { BackfillRunSchema } from '../backfill/backfill-schemas.js';
import { defineTool, type ToolEnv } from './tool-kit.js';

const BaseScope = {
  namespace: z.string().optional().describe('only memories of this namespace (or nodes of this graph, with FalkorDB)'),
  limit: z.number().int().min(1, 'limit must be at least 1').optional().describe('embed at most this many'),
  wait: z.boolean().optional().describe('return when the run ends (default false)'),
};
const ForeignScope = {
  graph: z.string().optional().describe('only nodes of this graph'),
  label: z.string().optional().describe('only nodes with this label'),
};

/** graph and label are offered only when the store embeds nodes written by other tools. */
export const backfillRunTool = ({ foreignNodes }: ToolEnv) =>
  defineTool({
    name: 'backfill_run',
    title: 'Run the backfill',
    description:
      'Embeds every record that lacks an embedding from the configured model (newest first), or joins the run in ' +
      `progress. Optional scope: namespace${foreignNodes ? '; graph and label (nodes written by other tools)' : ''}; limit. ` +
      'With wait: true it returns when the run ends and reports progress meanwhile; otherwise it returns at once ' +
      'with a run id that backfill_status reports on.',
    // The type lists graph and label always; the schema holds them only with the capability.
    inputSchema: (foreignNodes ? { ...BaseScope, ...ForeignScope } : BaseScope) as typeof BaseScope &
      typeof ForeignScope,

    outputSchema: {
      run_id: z.string(),
      joined: z.boolean().describe('true when a run was already in progress and this call joined it'),
      run: BackfillRunSchema,
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handle(args, { backfill }, extra) {
      if (!backfill) throw new MemoryError('INTERNAL', 'this server has no backfill job');
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
