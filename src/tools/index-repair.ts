import { z } from 'zod';
import { describeRepair, runRepair } from '../health/repair.js';
import { defineTool } from './tool-kit.js';

export const indexRepairTool = defineTool({
  name: 'index_repair',
  title: 'Repair the search index',
  description:
    'Repairs the search index from the store (the store is never changed). mode "verify" reports what is wrong; ' +
    '"sync" adds memories missing from the index and drops vectors that belong to no memory; "rebuild" builds a ' +
    'new index from the store off to the side and swaps it in, while searches keep being answered. With dry_run, ' +
    'only the plan (counts, estimated time). Reports progress while rebuilding.',
  inputSchema: {
    mode: z.enum(['verify', 'sync', 'rebuild']).describe('verify | sync | rebuild'),
    dry_run: z.boolean().optional().describe('report the plan without changing anything'),
  },
  outputSchema: {
    mode: z.enum(['verify', 'sync', 'rebuild']),
    dry_run: z.boolean(),
    before: z.object({ store_count: z.number(), index_count: z.number(), missing: z.number(), extra: z.number() }),
    plan: z.object({ add: z.number(), drop: z.number(), rebuild_vectors: z.number(), estimated_ms: z.number() }),
    after: z
      .object({ store_count: z.number(), index_count: z.number(), missing: z.number(), extra: z.number() })
      .nullable(),
    keyword: z
      .object({ missing: z.number(), extra: z.number(), rebuilt: z.boolean() })
      .nullable()
      .describe('the keyword index before, and whether it was rebuilt'),
    ms: z.number(),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handle(args, { service }, extra) {
    const result = await runRepair(service, args.mode, args.dry_run === true, (done, total) =>
      extra.progress(done, total, `rebuilt ${done} of ${total}`),
    );
    return { structured: result, text: describeRepair(result) };
  },
});
