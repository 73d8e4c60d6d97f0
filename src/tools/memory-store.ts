import { z } from 'zod';
import { MemoryError } from '../shared/errors.js';
import type { StoreItem } from '../memory/memory-service.js';
import { MetadataSchema, NamespaceSchema, TagsSchema, defineTool, strictShape, type ToolEnv } from './tool-kit.js';

const ItemSchema = strictShape('each item', {
  text: z.string().describe('the memory itself, in plain words'),
  id: z.string().optional().describe('your own id; storing an existing id replaces that memory'),
  namespace: NamespaceSchema.optional(),
  metadata: MetadataSchema.optional(),
  tags: TagsSchema.optional(),
});

export const memoryStoreTool = ({ limits }: ToolEnv) =>
  defineTool({
    name: 'memory_store',
    title: 'Store memories',
    description:
      `Stores one memory ({text, metadata?, tags?, namespace?, id?}) or many ({items: [...]}, up to ${limits.maxBatchItems} per call) ` +
      `and returns their ids. Storing an existing id replaces that memory. Text up to ${limits.maxTextChars.toLocaleString('en-US')} characters; ` +
      'metadata is a small JSON object. A memory is searchable as soon as this returns, unless the reply says its ' +
      'embedding is pending (the provider failed; it is kept and embedded in the background). Reports progress ' +
      'while embedding large batches.',
    inputSchema: {
      text: z.string().optional().describe('the memory to store (or use items for several)'),
      id: ItemSchema.shape.id,
      namespace: NamespaceSchema.optional(),
      metadata: MetadataSchema.optional(),
      tags: TagsSchema.optional(),
      items: z.array(ItemSchema).optional().describe('several memories at once, instead of text'),
    },
    outputSchema: {
      ids: z.array(z.string()),
      items: z.array(
        z.object({ id: z.string(), status: z.enum(['created', 'updated']), embedding: z.enum(['done', 'pending']) }),
      ),
      embedding_error: z.string().optional(),
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    async handle(args, { service }, extra) {
      const single = args.text !== undefined;
      if (single && args.items !== undefined) {
        throw invalidShape('pass either text (one memory) or items (several), not both');
      }
      if (!single && args.items === undefined) throw invalidShape('pass text (one memory) or items (several)');
      if (!single && (args.id ?? args.namespace ?? args.metadata ?? args.tags) !== undefined) {
        throw invalidShape('with items, put id, namespace, metadata and tags inside each item');
      }
      const items: StoreItem[] = single
        ? [{ text: args.text!, id: args.id, namespace: args.namespace, metadata: args.metadata, tags: args.tags }]
        : args.items!.map((i) => ({ ...i }));
      const outcome = await service.storeMemories(items, {
        signal: extra.signal,
        onProgress: (done, total) => extra.progress(done, total, `embedded ${done} of ${total}`),
      });
      const pending = outcome.items.filter((i) => i.embedding === 'pending').length;
      const text =
        `Stored ${outcome.items.length} ${outcome.items.length === 1 ? 'memory' : 'memories'}: ${outcome.items.map((i) => i.id).join(', ')}` +
        (pending > 0
          ? `. ${pending} not searchable yet: the embedding provider failed (${outcome.embeddingError}); ` +
            'they are kept and will be embedded in the background.'
          : '.');
      return {
        structured: {
          ids: outcome.items.map((i) => i.id),
          items: outcome.items,
          ...(outcome.embeddingError !== undefined ? { embedding_error: outcome.embeddingError } : {}),
        },
        text,
      };
    },
  });

function invalidShape(message: string): MemoryError {
  return new MemoryError('INVALID_INPUT', message, { hint: 'see the memory_store input schema' });
}
