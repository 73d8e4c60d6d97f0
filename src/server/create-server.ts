// The server factory: an McpServer with every tool, resource and prompt registered, around
// dependencies the caller built. Transports are thin entries around it; the HTTP transport
// makes one per session, all sharing the same service.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { BackfillJob } from '../backfill/backfill-job.js';
import type { CallTracker } from '../shared/call-tracker.js';
import type { CallObserver } from '../tools/call-chain.js';
import type { HealthDeps } from '../health/health-report.js';
import { errorMessage } from '../shared/errors.js';
import type { Limits } from '../config/limits.js';
import type { Logger } from '../shared/logger.js';
import type { MemoryService } from '../memory/memory-service.js';
import type { Notifier } from './notifier.js';
import { guardTransport } from './request-guard.js';
import { statusReport } from './status.js';
import { registerTools } from '../tools/index.js';
import { UNTRUSTED_NOTICE, wrapUntrusted } from '../tools/untrusted.js';
import { VERSION } from '../shared/version.js';

export interface ServerDeps {
  service: MemoryService;
  limits: Limits;
  logger: Logger;
  notifier?: Notifier | undefined;
  backfill?: BackfillJob | undefined;
  calls?: CallTracker | undefined;
  toolTimeoutMs?: number | undefined;
  /** Extra sections of the memory://status report. */
  statusExtras?: () => Record<string, unknown>;
  health?: HealthDeps | undefined;
  /** Told of each tool call's outcome and duration (the HTTP transport's /metrics). */
  observe?: CallObserver | undefined;
}

export interface CreatedServer {
  server: McpServer;
  /** Detaches the server from shared sources (notifications); does not close the transport. */
  cleanup(): void;
}

export function createServer(deps: ServerDeps): CreatedServer {
  const server = new McpServer(
    { name: 'vector-memory-mcp', version: VERSION },
    {
      capabilities: { tools: {}, resources: {}, prompts: {}, logging: {} },
      instructions:
        'Long-term memory. Use memory_search before answering questions that may depend on earlier conversations, ' +
        'and memory_store to keep facts, preferences and decisions worth remembering. ' +
        UNTRUSTED_NOTICE,
    },
  );
  // Every transport's messages pass the guard before the SDK parses them (request-guard.ts).
  const connect = server.connect.bind(server);
  server.connect = async (transport) => {
    await connect(transport);
    guardTransport(transport, deps.logger);
  };
  registerTools(server, {
    service: deps.service,
    limits: deps.limits,
    logger: deps.logger,
    backfill: deps.backfill,
    calls: deps.calls,
    toolTimeoutMs: deps.toolTimeoutMs,
    health: deps.health,
    observe: deps.observe,
  });

  server.registerResource(
    'status',
    'memory://status',
    {
      title: 'Memory server status',
      description:
        'JSON report: embedding provider (and whether it is semantic or lexical), store counts (pending, done, failed embeddings), search index state, background embedder.',
      mimeType: 'application/json',
    },
    async (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify(
            await statusReport({ service: deps.service, backfill: deps.backfill, extras: deps.statusExtras }),
            null,
            2,
          ),
        },
      ],
    }),
  );

  server.registerPrompt(
    'recall',
    {
      title: 'Recall memories',
      description:
        'Searches the memory for a topic and puts the best matches into the conversation, marked as stored data.',
      argsSchema: {
        topic: z.string().describe('what to recall, in plain words'),
      },
    },
    async ({ topic }) => {
      let body: string;
      try {
        const outcome = await deps.service.search({ query: topic, k: 10 });
        body =
          outcome.hits.length === 0
            ? `No stored memory matches "${topic}".`
            : `Stored memories about "${topic}" (${outcome.mode}${outcome.provider ? `, ${outcome.provider.name} ${outcome.provider.kind}` : ''}):\n` +
              wrapUntrusted(
                outcome.hits.map((h) => ({
                  header: `id=${h.record.id} score=${h.score.toFixed(3)}`,
                  text: h.record.text,
                })),
              );
      } catch (err) {
        body = `Memory search failed: ${errorMessage(err)}`;
      }
      return {
        description: `Memories about ${topic}`,
        messages: [{ role: 'user', content: { type: 'text', text: body } }],
      };
    },
  );

  const unsubscribe = deps.notifier?.subscribe((event) => {
    if (!server.isConnected()) return;
    server
      .sendLoggingMessage(
        { level: event.level, logger: event.logger, data: event.data },
        // The SDK keeps each session's chosen level under its transport's session id.
        server.server.transport?.sessionId,
      )
      // A session whose transport just closed misses the event; nobody else is affected.
      .catch(() => undefined);
  });
  return { server, cleanup: () => unsubscribe?.() };
}
