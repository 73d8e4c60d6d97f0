import { z } from 'zod';
import { UNTRUSTED_NOTICE, wrapUntrusted } from './untrusted.js';
import { SnippetCharsSchema, snippet } from './snippet.js';
import type { Metadata } from '../store/types.js';
import {
  MetadataFilterSchema,
  MemorySchema,
  NamespaceSchema,
  TimeBoundsShape,
  timeBoundsOf,
  defineTool,
  type ToolEnv,
} from './tool-kit.js';

export const memoryListTool = ({ limits }: ToolEnv) =>
  defineTool({
    name: 'memory_list',
    title: 'List memories',
    description:
      'Lists memories newest (or oldest) first, in pages: pass next_cursor as cursor with the same arguments. ' +
      'Filters: namespace, tags (all), metadata equality, times (ISO 8601 or 24h/7d/2w ago). ' +
      UNTRUSTED_NOTICE,
    inputSchema: {
      namespace: NamespaceSchema.optional(),
      tags: z.array(z.string()).optional().describe('all of these'),
      filter: MetadataFilterSchema.optional(),
      ...TimeBoundsShape,
      order: z.enum(['newest', 'oldest']).optional().describe('default newest'),
      limit: z
        .number()
        .int('limit must be a whole number')
        .min(1, 'limit must be at least 1')
        .max(limits.maxK, `limit must be at most ${limits.maxK}; page with cursor`)
        .optional()
        .describe(`memories per page (default 20, max ${limits.maxK})`),
      cursor: z.string().optional(),
      snippet_chars: SnippetCharsSchema,
    },
    outputSchema: {
      memories: z.array(
        MemorySchema.omit({ embedding_status: true, embedding_error: true }).extend({
          truncated: z.boolean().optional(),
        }),
      ),
      next_cursor: z.string().nullable(),
      total: z.number(),
    },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handle(args, { service }) {
      const { memories, nextCursor, total } = await service.list({
        namespace: args.namespace,
        tags: args.tags,
        filter: args.filter as Metadata | undefined,
        time: timeBoundsOf(args),
        order: args.order,
        limit: args.limit,
        cursor: args.cursor,
      });
      const shown = memories.map((m) => {
        const cut = snippet(m.text, args.snippet_chars);
        return {
          id: m.id,
          text: cut.text,
          ...(cut.truncated ? { truncated: true } : {}),
          namespace: m.namespace,
          tags: m.tags,
          metadata: m.metadata,
          created_at: m.createdAt,
          updated_at: m.updatedAt,
        };
      });
      const header = `${shown.length} of ${total}${nextCursor ? '; more with cursor' : ''}.`;
      const text =
        shown.length === 0
          ? header
          : `${header}\n${wrapUntrusted(shown.map((m) => ({ header: `${m.id} ${m.created_at.slice(0, 16)} ${m.namespace}`, text: m.text })))}`;
      return { structured: { memories: shown, next_cursor: nextCursor, total }, text };
    },
  });
