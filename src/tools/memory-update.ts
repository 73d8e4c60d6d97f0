import { z } from 'zod';
import type { Metadata } from '../store/types.js';
import { MemorySchema, MetadataSchema, TagsSchema, defineTool, toMemory } from './tool-kit.js';

export const memoryUpdateTool = defineTool({
  name: 'memory_update',
  title: 'Update a memory',
  description: 'Changes a memory: text (re-embedded), metadata or tags (each replaced whole); omitted fields stay.',
  inputSchema: {
    id: z.string(),
    text: z.string().optional(),
    metadata: MetadataSchema.optional(),
    tags: TagsSchema.optional(),
  },
  outputSchema: {
    memory: MemorySchema,
    reembedded: z.boolean(),
    embedding_error: z.string().optional(),
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async handle(args, { service }, { signal }) {
    const { record, reembedded, embeddingError } = await service.update(
      { ...args, metadata: args.metadata as Metadata | undefined },
      { signal },
    );
    const text =
      `Updated ${record.id}` +
      (reembedded ? ' (text re-embedded).' : '.') +
      (embeddingError
        ? ` The new text is not searchable by meaning yet (found by keyword): ${embeddingError}; embedded in the background.`
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
