import { z } from 'zod';
import { describeRepair, runRepair, type RepairResult } from '../health/repair.js';
import { defineTool, freeObject } from './tool-kit.js';

const RepairInput = {
  mode: z.enum(['verify', 'sync', 'rebuild']),
  dry_run: z.boolean().optional(),
};
const RepairOutput = {
  mode: z.enum(['verify', 'sync', 'rebuild']),
  dry_run: z.boolean(),
  before: freeObject('store_count, index_count, missing, extra'),
  plan: freeObject('add, drop, rebuild_vectors, estimated_ms'),
  after: freeObject('the counts after the repair').nullable(),
  keyword: freeObject('the keyword index: missing, extra, rebuilt').nullable(),
  unexplained: z.string().nullable(),
  ms: z.number(),
};

export const indexRepairTool = defineTool<typeof RepairInput, typeof RepairOutput, RepairResult>({
  name: 'index_repair',
  title: 'Repair the search index',
  description:
    'Repairs the search and keyword indexes from the store (never changed): verify reports, sync adds what is ' +
    'missing and drops extras, rebuild builds anew while searches go on. dry_run: only the plan.',
  inputSchema: RepairInput,
  outputSchema: RepairOutput,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handle(args, { service }, extra) {
    const result = await runRepair(service, args.mode, args.dry_run === true, (done, total) =>
      extra.progress(done, total, `rebuilt ${done} of ${total}`),
    );
    return { structured: result, text: describeRepair(result) };
  },
});
