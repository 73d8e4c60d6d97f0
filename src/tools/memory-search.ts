import { z } from 'zod';
import { migrationReport } from '../health/index-report.js';
import type { SearchHit, SearchOutcome } from '../memory/memory-service.js';
import type { Metadata } from '../store/types.js';
import { UNTRUSTED_NOTICE, wrapUntrusted } from './untrusted.js';
import { SnippetCharsSchema, snippet } from './snippet.js';
import {
  MetadataFilterSchema,
  MetadataSchema,
  NamespaceSchema,
  freeObject,
  TimeBoundsShape,
  timeBoundsOf,
  defineTool,
  type ToolEnv,
} from './tool-kit.js';

const ChannelSchema = z.object({ rank: z.number(), score: z.number() });

export const memorySearchTool = ({ limits }: ToolEnv) =>
  defineTool({
    name: 'memory_search',
    title: 'Search memories',
    description:
      'Finds memories, best first. mode hybrid (default) merges meaning and keyword (BM25) rankings, exact ' +
      'identifiers (tickets, hosts, versions) first; semantic or keyword use one. Filters: namespace, tags ' +
      '(all), metadata equality, times (ISO 8601 or 24h/7d/2w ago), min_score (cosine). ' +
      UNTRUSTED_NOTICE,
    inputSchema: {
      query: z.string().describe('plain words or exact identifiers'),
      mode: z.enum(['hybrid', 'semantic', 'keyword']).optional().describe('default hybrid'),
      k: z
        .number()
        .int('k must be a whole number')
        .min(1, 'k must be at least 1')
        .max(limits.maxK, `k must be at most ${limits.maxK}; narrow the search with filters instead`)
        .optional()
        .describe(`how many results (default 10, max ${limits.maxK})`),
      namespace: NamespaceSchema.optional(),
      tags: z.array(z.string()).optional().describe('all of these'),
      filter: MetadataFilterSchema.optional(),
      min_score: z
        .number()
        .min(-1, 'min_score must be between -1 and 1')
        .max(1, 'min_score must be between -1 and 1')
        .optional(),
      ...TimeBoundsShape,
      snippet_chars: SnippetCharsSchema,
    },
    outputSchema: {
      results: z.array(
        z.object({
          id: z.string(),
          text: z.string(),
          truncated: z.boolean().optional(),
          score: z.number(),
          semantic: ChannelSchema.optional(),
          keyword: ChannelSchema.optional(),
          promoted: z.boolean().optional(),
          namespace: z.string(),
          tags: z.array(z.string()),
          metadata: MetadataSchema,
          created_at: z.string(),
        }),
      ),
      count: z.number(),
      mode: z.enum(['hybrid', 'semantic', 'keyword']),
      provider: freeObject('the provider whose vectors ranked the semantic channel').nullable(),
      notes: z.array(z.string()).optional(),
      migration: freeObject('a model change in progress').optional(),
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
          filter: args.filter as Metadata | undefined,
          minScore: args.min_score,
          time: timeBoundsOf(args),
        },
        { signal },
      );
      const cuts = outcome.hits.map((h) => snippet(h.record.text, args.snippet_chars));
      const results = outcome.hits.map((h, i) => ({
        id: h.record.id,
        text: cuts[i]!.text,
        ...(cuts[i]!.truncated ? { truncated: true } : {}),
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
      // Compact: the scores and channels in a few characters, the namespace once when all share it.
      const namespaces = new Set(outcome.hits.map((h) => h.record.namespace));
      const oneNamespace = namespaces.size === 1 ? [...namespaces][0] : undefined;
      const envelope = wrapUntrusted(
        outcome.hits.map((h, i) => ({
          header: `${h.record.id} ${why(h, outcome.mode)}${oneNamespace === undefined ? ` ns=${h.record.namespace}` : ''}`,
          text: cuts[i]!.text,
        })),
      );
      const header =
        headerOf(outcome, results.length) +
        (oneNamespace !== undefined && oneNamespace !== 'default' ? ` Namespace ${oneNamespace}.` : '');
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

/** "0.812" or, in hybrid, the channels behind the fused score: "s#1 0.81 k#3 4.1 ids". */
function why(h: SearchHit, mode: SearchOutcome['mode']): string {
  if (mode !== 'hybrid') return h.score.toFixed(3);
  const parts = [
    h.semantic ? `s#${h.semantic.rank} ${h.semantic.score.toFixed(2)}` : null,
    h.keyword ? `k#${h.keyword.rank} ${h.keyword.score.toFixed(1)}` : null,
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
