import { z } from 'zod';
import { MemoryError } from '../errors.js';
import { MemorySchema, defineTool, toMemory } from './tool-kit.js';

export const memoryGetTool = defineTool({
  name: 'memory_get',
  title: 'Get memories by id',
  description:
    'Returns memories by id ({id} or {ids: [...]}), with their text, metadata, tags, times and embedding status. ' +
    'Ids that do not exist are listed in missing; if none exists the call fails.',
  inputSchema: {
    id: z.string().optional(),
    ids: z.array(z.string()).optional(),
  },
  outputSchema: {
    memories: z.array(MemorySchema),
    missing: z.array(z.string()),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handle(args, { service }) {
    const ids = idList(args);
    const { memories, missing } = await service.get(ids);
    if (memories.length === 0) {
      throw new MemoryError('NOT_FOUND', `no memory has id ${missing.map((m) => `"${m}"`).join(', ')}`, {
        hint: 'use memory_search to find the right id',
      });
    }
    const text = [
      ...memories.map((m) => `${m.id} [${m.namespace}] ${m.text}`),
      ...(missing.length > 0 ? [`missing: ${missing.join(', ')}`] : []),
    ].join('\n');
    return { structured: { memories: memories.map(toMemory), missing }, text };
  },
});

export function idList(args: { id?: string | undefined; ids?: string[] | undefined }): string[] {
  if (args.id !== undefined && args.ids !== undefined) {
    throw new MemoryError('INVALID_INPUT', 'pass either id or ids, not both', { hint: 'use ids for several' });
  }
  if (args.id !== undefined) return [args.id];
  if (args.ids !== undefined) return args.ids;
  throw new MemoryError('INVALID_INPUT', 'pass id (one memory) or ids (several)', {
    hint: 'memory_search returns ids',
  });
}
