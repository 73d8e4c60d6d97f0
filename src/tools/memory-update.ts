import { z } from 'zod';
import { MemorySchema, MetadataSchema, TagsSchema, defineTool, toMemory } from './tool-kit.js';

export const memoryUpdateTool = defineTool({
  name: 'memory_update',
  title: 'Update a memory',
  description:
    'Changes an existing memory: its text (re-embedded), its metadata (replaced as a whole) or its tags ' +
    '(replaced as a whole). Fields you leave out stay as they are. Fails if the id does not exist.',
  inputSchema: {
    id: z.string().describe('the memory to change'),
    text: z.string().optional().describe('new text'),
    metadata: MetadataSchema.optional().describe('new metadata, replacing the old object'),
    tags: TagsSchema.optional().describe('new tags, replacing the old list'),
  },
  outputSchema: {
    memory: MemorySchema,
    reembedded: z.boolean(),
    embedding_error: z.string().optional(),
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async handle(args, { service }, { signal }) {
    const { record, reembedded, embeddingError } = await service.update(args, { signal });
    const text =
      `Updated ${record.id}` +
      (reembedded ? ' (text re-embedded).' : '.') +
      (embeddingError
        ? ` The new text is not searchable yet: ${embeddingError}; it will be embedded in the background.`
        : '');
    return {
      structured: {
        memory: toMemory(record),
        reembedded,
        ...(embeddingError !== undefined ? { embedding_error: embeddingError } : {}),
      },
      text,
    };
  },
});
