import { z } from 'zod';
import { MemoryError } from '../shared/errors.js';
import type { StoreItem } from '../memory/memory-service.js';
import type { Metadata } from '../store/types.js';
import { MetadataSchema, NamespaceSchema, TagsSchema, defineTool, strictShape, type ToolEnv } from './tool-kit.js';

// Described once, at the top level of the input (the same fields, for one memory).
const ItemSchema = strictShape('each item', {
  text: z.string(),
  id: z.string().optional(),
  namespace: z.string().optional(),
  metadata: z.looseObject({}).meta({ additionalProperties: true }).optional(),
  tags: z.array(z.string()).optional(),
});

export const memoryStoreTool = ({ limits }: ToolEnv) =>
  defineTool({
    name: 'memory_store',
    title: 'Store memories',
    description:
      `Stores new memories (one, or up to ${limits.maxBatchItems} as items; text up to ${limits.maxTextChars.toLocaleString('en-US')} ` +
      'characters). Never replaces: the same text in the same namespace returns the existing id; near-duplicates are ' +
      'listed in similar. memory_update changes a memory.',
    inputSchema: {
      text: z.string().optional(),
      id: z.string().optional(),
      namespace: NamespaceSchema.optional(),
      metadata: MetadataSchema.optional(),
      tags: TagsSchema.optional(),
      items: z.array(ItemSchema).optional().describe('several memories: {text, id?, namespace?, metadata?, tags?}'),
      on_duplicate: z
        .enum(['keep', 'skip', 'update'])
        .optional()
        .describe('when similar exist: keep both (default), skip, or update the closest'),
    },
    outputSchema: {
      ids: z.array(z.string()),
      items: z.array(
        z.object({
          id: z.string(),
          status: z.enum(['created', 'unchanged', 'duplicate', 'skipped', 'updated']),
          embedding: z.enum(['done', 'pending', 'failed']),
          duplicate_of: z.string().optional(),
          similar: z.array(z.object({ id: z.string(), score: z.number() })).optional(),
        }),
      ),
      embedding_error: z.string().optional(),
    },
    // Additive: it never replaces or deletes (on_duplicate "update" is the caller's explicit choice
    // to change the closest memory), and a retry creates nothing new.
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
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
        ? [
            {
              text: args.text!,
              id: args.id,
              namespace: args.namespace,
              metadata: args.metadata as Metadata | undefined,
              tags: args.tags,
            },
          ]
        : args.items!.map((i) => ({ ...i, metadata: i.metadata as Metadata | undefined }));
      const outcome = await service.storeMemories(items, {
        signal: extra.signal,
        onDuplicate: args.on_duplicate,
        onProgress: (done, total) => extra.progress(done, total, `embedded ${done} of ${total}`),
      });
      const lines = outcome.items.map((i) => {
        const near = i.similar?.length ? `; similar: ${i.similar.map((x) => `${x.id} (${x.score})`).join(', ')}` : '';
        return `${i.id}: ${i.status}${i.status === 'duplicate' ? ' (same text already stored: nothing written)' : ''}${near}`;
      });
      const pending = outcome.items.filter((i) => i.embedding === 'pending' && i.status !== 'duplicate').length;
      const text =
        lines.join('\n') +
        (pending > 0
          ? `\n${pending} not searchable by meaning yet (found by keyword): the embedding provider failed ` +
            `(${outcome.embeddingError}); embedded in the background.`
          : '');
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
