import { z } from 'zod';
import { MigrationSchema, migrationReport } from '../health/index-report.js';
import type { SearchHit, SearchOutcome } from '../memory/memory-service.js';
import { UNTRUSTED_NOTICE, wrapUntrusted } from './untrusted.js';
import { JsonValueSchema, NamespaceSchema, ProviderSchema, defineTool, type ToolEnv } from './tool-kit.js';

const ChannelSchema = z.object({ rank: z.number(), score: z.number() });

export const memorySearchTool = ({ limits }: ToolEnv) =>
  defineTool({
    name: 'memory_search',
    title: 'Search memories',
    description:
      'Finds stored memories for a query, best first. mode "hybrid" (default) merges meaning-level (semantic) and ' +
      'keyword (BM25) rankings and puts first the memories holding every identifier of the query (ticket codes, ' +
      'hostnames, versions, names); "semantic" ranks by cosine similarity only; "keyword" by BM25 only. Each result ' +
      'gives its score and its rank and score in each channel. Optional filters: namespace, tags (all must match), ' +
      'metadata equality (filter), min_score (cosine, semantic channel). The reply names the embedding provider ' +
      '(with "hash" the semantic channel is lexical too) and says when a channel could not answer. ' +
      UNTRUSTED_NOTICE,
    inputSchema: {
      query: z.string().describe('what to look for, in plain words or exact identifiers'),
      mode: z.enum(['hybrid', 'semantic', 'keyword']).optional().describe('default hybrid'),
      k: z
        .number()
        .int('k must be a whole number')
        .min(1, 'k must be at least 1')
        .max(limits.maxK, `k must be at most ${limits.maxK}; narrow the search with filters instead`)
        .optional()
        .describe(`how many results (default 10, max ${limits.maxK})`),
      namespace: NamespaceSchema.optional(),
      tags: z.array(z.string()).optional().describe('only memories that carry all of these tags'),
      filter: z
        .record(z.string(), JsonValueSchema)
        .optional()
        .describe('only memories whose metadata has these exact values, e.g. {"project": "apollo"}'),
      min_score: z
        .number()
        .min(-1, 'min_score must be between -1 and 1')
        .max(1, 'min_score must be between -1 and 1')
        .optional()
        .describe('drop semantic candidates below this cosine'),
    },
    outputSchema: {
      results: z.array(
        z.object({
          id: z.string(),
          text: z.string(),
          score: z.number().describe('cosine (semantic), BM25 (keyword) or fused (hybrid)'),
          semantic: ChannelSchema.optional().describe('rank and cosine in the semantic channel'),
          keyword: ChannelSchema.optional().describe('rank and BM25 in the keyword channel'),
          promoted: z.boolean().optional().describe('holds every identifier of the query'),
          namespace: z.string(),
          tags: z.array(z.string()),
          metadata: z.record(z.string(), z.unknown()),
          created_at: z.string(),
        }),
      ),
      count: z.number(),
      mode: z.enum(['hybrid', 'semantic', 'keyword']),
      provider: ProviderSchema.nullable().describe('the provider whose vectors ranked the semantic channel'),
      notes: z.array(z.string()).optional().describe('what limited this answer'),
      migration: MigrationSchema.optional().describe(
        'present while the embedding model is being changed: re-embedding progress',
      ),
    },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handle(args, { service }, { signal }) {
      const outcome = await service.search(
        {
          query: args.query,
          mode: args.mode,
          k: args.k,
          namespace: args.namespace,
          tags: args.tags,
          filter: args.filter,
          minScore: args.min_score,
        },
        { signal },
      );
      const results = outcome.hits.map((h) => ({
        id: h.record.id,
        text: h.record.text,
        score: h.score,
        ...(h.semantic ? { semantic: h.semantic } : {}),
        ...(h.keyword ? { keyword: h.keyword } : {}),
        ...(h.promoted ? { promoted: true } : {}),
        namespace: h.record.namespace,
        tags: h.record.tags,
        metadata: h.record.metadata,
        created_at: h.record.createdAt,
      }));
      const m = outcome.migration;
      const envelope = wrapUntrusted(
        outcome.hits.map((h) => ({
          header: `id=${h.record.id} ${why(h, outcome.mode)} namespace=${h.record.namespace}${h.record.tags.length ? ` tags=${h.record.tags.join(',')}` : ''}`,
          text: h.record.text,
        })),
      );
      const header = headerOf(outcome, results.length);
      return {
        structured: {
          results,
          count: results.length,
          mode: outcome.mode,
          provider: outcome.provider,
          ...(outcome.notes.length > 0 ? { notes: outcome.notes } : {}),
          ...(m ? { migration: migrationReport(m) } : {}),
        },
        text: results.length > 0 ? `${header}\n${envelope}` : header,
      };
    },
  });

/** "score=0.812" or, in hybrid, the channels behind the fused score: "sem#1 0.812 kw#3 4.10 ids". */
function why(h: SearchHit, mode: SearchOutcome['mode']): string {
  if (mode !== 'hybrid') return `score=${h.score.toFixed(3)}`;
  const parts = [
    h.semantic ? `sem#${h.semantic.rank} ${h.semantic.score.toFixed(3)}` : null,
    h.keyword ? `kw#${h.keyword.rank} ${h.keyword.score.toFixed(2)}` : null,
    h.promoted ? 'ids' : null,
  ];
  return parts.filter((p) => p !== null).join(' ');
}

function headerOf(outcome: SearchOutcome, count: number): string {
  const p = outcome.provider;
  const m = outcome.migration;
  const channels =
    outcome.mode === 'keyword' ? 'keyword' : `${outcome.mode}${p ? `, ${p.name}/${p.model} ${p.kind}` : ''}`;
  return (
    `${count} result${count === 1 ? '' : 's'} (${channels}).` +
    (m
      ? ` Model change in progress, ${m.done} of ${m.total} re-embedded: ${
          m.servingPrevious
            ? `semantic ranks merged with the previous model's index (${m.from})`
            : 'only re-embedded memories reach the semantic channel yet'
        }.`
      : '') +
    outcome.notes.map((n) => ` Note: ${n}.`).join('')
  );
}
