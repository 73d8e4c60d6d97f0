import { z } from 'zod';
import { MigrationSchema, migrationReport } from '../health/index-report.js';
import { UNTRUSTED_NOTICE, wrapUntrusted } from './untrusted.js';
import { JsonValueSchema, NamespaceSchema, ProviderSchema, defineTool, type ToolEnv } from './tool-kit.js';

export const memorySearchTool = ({ limits }: ToolEnv) =>
  defineTool({
    name: 'memory_search',
    title: 'Search memories',
    description:
      'Finds the stored memories closest in meaning to a query, best first, with a similarity score ' +
      '(cosine, -1 to 1). Optional filters: namespace, tags (all must match), metadata equality (filter), ' +
      'min_score. The reply says which embedding provider answered: with the offline "hash" provider, ' +
      'matching is lexical (shared words), not semantic. During a model change the reply says how far ' +
      're-embedding has come. ' +
      UNTRUSTED_NOTICE,
    inputSchema: {
      query: z.string().describe('what to look for, in plain words'),
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
        .describe('drop results scoring below this'),
    },
    outputSchema: {
      results: z.array(
        z.object({
          id: z.string(),
          text: z.string(),
          score: z.number(),
          namespace: z.string(),
          tags: z.array(z.string()),
          metadata: z.record(z.string(), z.unknown()),
          created_at: z.string(),
        }),
      ),
      count: z.number(),
      provider: ProviderSchema,
      migration: MigrationSchema.optional().describe(
        'present while the embedding model is being changed: re-embedding progress',
      ),
    },
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handle(args, { service }, { signal }) {
      const outcome = await service.search(
        {
          query: args.query,
          k: args.k,
          namespace: args.namespace,
          tags: args.tags,
          filter: args.filter,
          minScore: args.min_score,
        },
        { signal },
      );
      const results = outcome.hits.map(({ record: r, score }) => ({
        id: r.id,
        text: r.text,
        score,
        namespace: r.namespace,
        tags: r.tags,
        metadata: r.metadata,
        created_at: r.createdAt,
      }));
      const p = outcome.provider;
      const m = outcome.migration;
      const header =
        `${results.length} result${results.length === 1 ? '' : 's'} (provider ${p.name}/${p.model}, ${p.kind})` +
        (m
          ? `; model change in progress, ${m.done} of ${m.total} re-embedded: ${
              m.servingPrevious
                ? `results merged by rank with the previous model's index (${m.from}); scores come from either model`
                : 'only re-embedded memories can be found yet'
            }`
          : '');
      const envelope = wrapUntrusted(
        results.map((r) => ({
          header: `id=${r.id} score=${r.score.toFixed(3)} namespace=${r.namespace}${r.tags.length ? ` tags=${r.tags.join(',')}` : ''}`,
          text: r.text,
        })),
      );
      return {
        structured: { results, count: results.length, provider: p, ...(m ? { migration: migrationReport(m) } : {}) },
        text: results.length > 0 ? `${header}.\n${envelope}` : `${header}.`,
      };
    },
  });
