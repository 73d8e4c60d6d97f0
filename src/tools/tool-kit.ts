// Shared shapes and helpers for the tools: the context and environment a tool gets, the wire
// schemas several tools return, and registration through the call chain.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type {
  CallToolResult,
  ServerNotification,
  ServerRequest,
  Tool,
  ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Limits } from '../config/limits.js';
import type { Logger } from '../shared/logger.js';
import { compose, deadline, mapErrors, measure, track, type CallObserver } from './call-chain.js';
import { publishedSchema } from './published-schema.js';
import type { MemoryService } from '../memory/memory-service.js';
import type { BackfillJob } from '../backfill/backfill-job.js';
import type { CallTracker } from '../shared/call-tracker.js';
import type { HealthDeps } from '../health/health-report.js';
import type { MemoryRecord } from '../store/types.js';
import type { TimeBounds } from '../memory/time-filter.js';

/** What a tool's schema and description depend on: the configured limits, the store's capabilities. */
export interface ToolEnv {
  limits: Limits;
  /** The store embeds nodes written by other tools (FalkorDB): graph and label scopes apply. */
  foreignNodes: boolean;
}

export interface ToolContext {
  service: MemoryService;
  limits: Limits;
  logger: Logger;
  backfill?: BackfillJob | undefined;
  /** Calls in flight, for a graceful shutdown. */
  calls?: CallTracker | undefined;
  /** Longest a call may take before it answers with a timeout error. */
  toolTimeoutMs?: number | undefined;
  health?: HealthDeps | undefined;
  /** Told of each call's tool, outcome and duration (the /metrics histogram). */
  observe?: CallObserver | undefined;
}

/** Metadata in and out: a JSON object of the caller's fields (its values are JSON by the wire). */
export const MetadataSchema = freeObject(
  'JSON object of your own fields, e.g. {"source": "chat", "project": "apollo"}',
);
/** Metadata equality in filters. */
export const MetadataFilterSchema = freeObject('metadata equality, e.g. {"project": "apollo"}');
export const TagsSchema = z.array(z.string()).describe('labels to filter by');
export const NamespaceSchema = z.string().describe('e.g. a user or project (default "default")');

const TimeBound = () => z.string().optional();

/** created_after / created_before / updated_after / updated_before (after inclusive, before exclusive). */
export const TimeBoundsShape = {
  created_after: TimeBound(),
  created_before: TimeBound(),
  updated_after: TimeBound(),
  updated_before: TimeBound(),
};

/** The time bounds of a call's arguments, as the service takes them. */
export function timeBoundsOf(args: { [K in keyof typeof TimeBoundsShape]?: string | undefined }): TimeBounds {
  return {
    created_after: args.created_after,
    created_before: args.created_before,
    updated_after: args.updated_after,
    updated_before: args.updated_before,
  };
}

export const MemorySchema = z.object({
  id: z.string(),
  text: z.string(),
  namespace: z.string(),
  tags: z.array(z.string()),
  metadata: MetadataSchema,
  created_at: z.string(),
  updated_at: z.string(),
  embedding_status: z.enum(['pending', 'done', 'failed']),
  embedding_error: z.string().nullable(),
});

export function toMemory(r: MemoryRecord): z.infer<typeof MemorySchema> {
  return {
    id: r.id,
    text: r.text,
    namespace: r.namespace,
    tags: r.tags,
    metadata: r.metadata,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    embedding_status: r.embedding.status,
    embedding_error: r.embedding.lastError,
  };
}

export interface ToolExtra {
  /** Aborts when the client cancels the call, at its deadline, or at shutdown: pass it on. */
  signal: AbortSignal;
  /** Sends a progress notification when the client asked for them (a progressToken); else does nothing. */
  progress(done: number, total: number, message?: string): Promise<void>;
}

type SdkExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

function toolExtra(extra: SdkExtra, signal: AbortSignal): ToolExtra {
  const token = extra._meta?.progressToken;
  return {
    signal,
    async progress(done, total, message) {
      if (token === undefined) return;
      await extra
        .sendNotification({
          method: 'notifications/progress',
          params: { progressToken: token, progress: done, total, ...(message !== undefined ? { message } : {}) },
        })
        // Progress is advisory: a client gone or slow must not fail the call itself.
        .catch(() => undefined);
    },
  };
}

/**
 * A tool. `outputSchema` is what clients are shown (kept compact: a model reads tools/list on
 * every turn); `Structured` is the exact type of what the handler returns, which must fit it
 * (a tool may publish a section as a free object while its TypeScript type, for callers and
 * tests, is the full schema's).
 */
export interface ToolDefinition<
  In extends z.ZodRawShape,
  Out extends z.ZodRawShape,
  Structured extends z.infer<z.ZodObject<Out>> = z.infer<z.ZodObject<Out>>,
> {
  name: string;
  title: string;
  description: string;
  inputSchema: In;
  outputSchema: Out;
  annotations: ToolAnnotations;
  handle(
    args: z.infer<z.ZodObject<In>>,
    ctx: ToolContext,
    extra: ToolExtra,
  ): Promise<{ structured: Structured; text: string }>;
}

export function defineTool<
  In extends z.ZodRawShape,
  Out extends z.ZodRawShape,
  Structured extends z.infer<z.ZodObject<Out>> = z.infer<z.ZodObject<Out>>,
>(tool: ToolDefinition<In, Out, Structured>): ToolDefinition<In, Out, Structured> {
  return tool;
}

/** An object of any fields, shown to clients as such (`additionalProperties: true`). */
export function freeObject(description: string): z.ZodObject<Record<never, never>, z.core.$loose> {
  return z.looseObject({}).meta({ additionalProperties: true }).describe(description);
}

/** Registers a tool whose failures come back as `isError` results with a hint, never as crashes. */
export function registerTool<In extends z.ZodRawShape, Out extends z.ZodRawShape, S extends z.infer<z.ZodObject<Out>>>(
  server: McpServer,
  tool: ToolDefinition<In, Out, S>,
  ctx: ToolContext,
): Tool {
  // The SDK validates arguments and replies against these schemas; tools/list shows
  // `publishedSchema`'s compact, portable form of the same (index.ts installs that list).
  server.registerTool(
    tool.name,
    {
      title: tool.title,
      description: tool.description,
      inputSchema: strictShape(tool.name, tool.inputSchema),
      outputSchema: tool.outputSchema,
      annotations: tool.annotations,
    },
    (async (args: z.infer<z.ZodObject<In>>, extra: SdkExtra): Promise<CallToolResult> => {
      const run = compose(
        // Outermost first: the call is timed as answered; errors (the deadline's too) become tool
        // errors; the deadline answers in time; the tracker holds the handler's own promise, so
        // shutdown waits for the work.
        [measure(ctx.observe), mapErrors(ctx.logger), deadline(ctx.toolTimeoutMs), track(ctx.calls)],
        async (call) => {
          const { structured, text } = await tool.handle(args, ctx, toolExtra(extra, call.signal));
          return { content: [{ type: 'text', text }], structuredContent: structured as Record<string, unknown> };
        },
      );
      return run({ tool: tool.name, signal: extra.signal });
    }) as never,
  );
  return {
    name: tool.name,
    title: tool.title,
    description: tool.description,
    inputSchema: publishedSchema(strictShape(tool.name, tool.inputSchema), 'input'),
    outputSchema: publishedSchema(z.object(tool.outputSchema), 'output'),
    annotations: tool.annotations,
  };
}

/**
 * Unknown arguments are errors, never silently dropped: a model that misnames an argument (or
 * passes one a tool does not take) learns it at once. `what` names the object in the message.
 */
export function strictShape<In extends z.ZodRawShape>(what: string, shape: In): z.ZodObject<In> {
  const names = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `INVALID_INPUT: unknown argument ${issue.keys.map((k) => `"${k}"`).join(', ')}; ${what} takes ${names.length > 0 ? names.join(', ') : 'no arguments'}`
        : undefined,
  });
}
