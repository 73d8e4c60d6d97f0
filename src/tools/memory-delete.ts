import { z } from 'zod';
import { IdOrIdsInput, idList, noneFound } from './id-args.js';
import { defineTool } from './tool-kit.js';

export const memoryDeleteTool = defineTool({
  name: 'memory_delete',
  title: 'Delete memories',
  description: 'Deletes memories by id ({id} or {ids}), permanently; unknown ids are listed in missing.',
  inputSchema: IdOrIdsInput,
  outputSchema: {
    deleted: z.array(z.string()),
    missing: z.array(z.string()),
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async handle(args, { service }, { signal }) {
    const { deleted, missing } = await service.delete(idList(args), { signal });
    if (deleted.length === 0) throw noneFound(missing, 'nothing was deleted; use memory_search to find the right id');
    const text = `Deleted ${deleted.join(', ')}` + (missing.length > 0 ? `; not found: ${missing.join(', ')}` : '');
    return { structured: { deleted, missing }, text };
  },
});
