import { z } from 'zod';
import { IdOrIdsInput, idList, noneFound } from './id-args.js';
import { UNTRUSTED_NOTICE, wrapUntrusted } from './untrusted.js';
import { MemorySchema, defineTool, toMemory } from './tool-kit.js';

export const memoryGetTool = defineTool({
  name: 'memory_get',
  title: 'Get memories by id',
  description: 'Returns memories by id ({id} or {ids}); unknown ids are listed in missing. ' + UNTRUSTED_NOTICE,
  inputSchema: IdOrIdsInput,
  outputSchema: {
    memories: z.array(MemorySchema),
    missing: z.array(z.string()),
  },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handle(args, { service }) {
    const ids = idList(args);
    const { memories, missing } = await service.get(ids);
    if (memories.length === 0) throw noneFound(missing, 'use memory_search to find the right id');
    const envelope = wrapUntrusted(
      memories.map((m) => ({ header: `id=${m.id} namespace=${m.namespace} updated=${m.updatedAt}`, text: m.text })),
    );
    const text = `${memories.length} found${missing.length > 0 ? `; missing: ${missing.join(', ')}` : ''}.\n${envelope}`;
    return { structured: { memories: memories.map(toMemory), missing }, text };
  },
});
