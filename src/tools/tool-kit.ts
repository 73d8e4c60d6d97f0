// Shared shapes and helpers for the tools: the context and environment a tool gets, the wire
// schemas several tools return, and registration through the call chain.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type {
  CallToolResult,
  ServerNotification,
  ServerRequest,
  ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Limits } from '../config/limits.js';
import type { Logger } from '../shared/logger.js';
import { compose, deadline, mapErrors, track } from './call-chain.js';
import type { MemoryService } from '../memory/memory-service.js';
import type { BackfillJob } from '../backfill/backfill-job.js';
import type { CallTracker } from '../shared/call-tracker.js';
import type { HealthDeps } from '../health/health-report.js';
import type { JsonValue, MemoryRecord } from '../store/types.js';

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
}

export const JsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(JsonValueSchema),
    z.record(z.string(), JsonValueSchema),
  ]),
);
export const MetadataSchema = z
  .record(z.string(), JsonValueSchema)
  .describe('JSON object of your own fields, e.g. {"source": "chat", "project": "apollo"}');
export const TagsSchema = z.array(z.string()).describe('labels to filter by later');
export const NamespaceSchema = z
  .string()
  .describe('separates memories of different users or projects (default "default")');

export const MemorySchema = z.object({
  id: z.string(),
  text: z.string(),
  namespace: z.string(),
  tags: z.array(z.string()),
  metadata: z.record(z.string(), z.unknown()),
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

export const ProviderSchema = z.object({
  name: z.string(),
  model: z.string(),
  kind: z.enum(['semantic', 'lexical']),
  fingerprint: z.string().nullable(),
  note: z.string(),
});

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

export interface ToolDefinition<In extends z.ZodRawShape, Out extends z.ZodRawShape> {
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
  ): Promise<{ structured: z.infer<z.ZodObject<Out>>; text: string }>;
}

export function defineTool<In extends z.ZodRawShape, Out extends z.ZodRawShape>(
  tool: ToolDefinition<In, Out>,
): ToolDefinition<In, Out> {
  return tool;
}

/** Registers a tool whose failures come back as `isError` results with a hint, never as crashes. */
export function registerTool<In extends z.ZodRawShape, Out extends z.ZodRawShape>(
  server: McpServer,
  tool: ToolDefinition<In, Out>,
  ctx: ToolContext,
): void {
  server.registerTool(
    tool.name,
    {
      title: tool.title,
      description: tool.description,
      inputSchema: strictShape(tool.name, tool.inputSchema),
      outputSchema: tool.outputSchema,
      annotations: { title: tool.title, ...tool.annotations },
    },
    (async (args: z.infer<z.ZodObject<In>>, extra: SdkExtra): Promise<CallToolResult> => {
      const run = compose(
        // Outermost first: errors (the deadline's too) become tool errors; the deadline answers
        // in time; the tracker holds the handler's own promise, so shutdown waits for the work.
        [mapErrors(ctx.logger), deadline(ctx.toolTimeoutMs), track(ctx.calls)],
        async (call) => {
          const { structured, text } = await tool.handle(args, ctx, toolExtra(extra, call.signal));
          return { content: [{ type: 'text', text }], structuredContent: structured as Record<string, unknown> };
        },
      );
      return run({ tool: tool.name, signal: extra.signal });
    }) as never,
  );
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
