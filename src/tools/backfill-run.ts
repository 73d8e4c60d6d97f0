import { z } from 'zod';
import { MemoryError } from '../shared/errors.js';
import type { BackfillRun } from '../backfill/backfill-schemas.js';
import { defineTool, freeObject, type ToolEnv } from './tool-kit.js';

const BaseScope = {
  namespace: z.string().optional(),
  limit: z.number().int().min(1, 'limit must be at least 1').optional(),
  wait: z.boolean().optional(),
};
const ForeignScope = {
  graph: z.string().optional(),
  label: z.string().optional(),
};

const RunOutput = {
  run_id: z.string(),
  joined: z.boolean(),
  run: freeObject('the run: outcome, planned, embedded, failed, throughput, ETA'),
};
interface RunReply {
  run_id: string;
  joined: boolean;
  run: BackfillRun;
}

/** graph and label are offered only when the store embeds nodes written by other tools. */
export const backfillRunTool = ({ foreignNodes }: ToolEnv) =>
  defineTool<typeof BaseScope & typeof ForeignScope, typeof RunOutput, RunReply>({
    name: 'backfill_run',
    title: 'Run the backfill',
    description:
      'Embeds what lacks an embedding of the configured model (or joins the run in progress), within ' +
      `namespace${foreignNodes ? ', graph, label' : ''} and limit. wait: return when it ends; else at once.`,
    // The type lists graph and label always; the schema holds them only with the capability.
    inputSchema: (foreignNodes ? { ...BaseScope, ...ForeignScope } : BaseScope) as typeof BaseScope &
      typeof ForeignScope,

    outputSchema: RunOutput,
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
