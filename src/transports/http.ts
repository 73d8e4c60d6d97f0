// HTTP transports: Streamable HTTP at /mcp and the older SSE transport (GET /sse +
// POST /messages). Every session gets its own McpServer; all share one store, one index
// manager and one backfill job. Locked down by default: loopback bind, Host and Origin
// allow-lists, optional bearer token, bounded bodies and sessions, idle sessions expire.
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { App } from '../app.js';
import { MemoryError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { createServer } from '../server/create-server.js';
import { OperatorMetrics } from '../health/metrics.js';
import { probeHealth } from '../health/probe.js';
import { buildPolicy, checkAccess, isLoopbackHost } from './http-security.js';

export interface HttpHandle {
  /** Base URL, e.g. http://127.0.0.1:3333 */
  url: string;
  port: number;
  sessionCount(): number;
  close(): Promise<void>;
}

interface Session {
  kind: 'streamable' | 'sse';
  transport: StreamableHTTPServerTransport | SSEServerTransport;
  lastSeen: number;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Close the connection after the reply (the client is misbehaving on it). */
    readonly closeConnection = false,
  ) {
    super(message);
  }
}

/** Refuses an unsafe setup before anything listens. */
export function checkBindSafety(app: App, logger: Logger): void {
  const { host, httpToken, allowInsecureRemote } = app.config;
  if (isLoopbackHost(host) || httpToken !== undefined) return;
  if (!allowInsecureRemote) {
    throw new MemoryError(
      'CONFIG_INVALID',
      `refusing to serve ${host} (not a loopback address) without MEMORY_HTTP_TOKEN: anyone who can reach it could read and rewrite the memory`,
      { hint: 'set MEMORY_HTTP_TOKEN, bind 127.0.0.1 behind a reverse proxy, or pass --allow-insecure-remote' },
    );
  }
  logger.warn(
    `!!! SERVING ${host} WITHOUT A TOKEN (--allow-insecure-remote): anyone who can reach this port can read and change every memory !!!`,
  );
}

export async function startHttp(app: App, logger: Logger): Promise<HttpHandle> {
  const { config } = app;
  checkBindSafety(app, logger);
  const sessions = new Map<string, Session>();
  const bodyLimit = app.messageBytes.body;

  const httpServer = createHttpServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) logger.error('HTTP request failed', { error: errorMessage(err), url: req.url });
      const close = err instanceof HttpError && err.closeConnection;
      if (close) logger.warn('HTTP request refused', { status, reason: errorMessage(err), url: req.url });
      if (!res.headersSent) {
        sendJson(
          res,
          status,
          jsonRpcError(status === 500 ? 'internal error' : errorMessage(err)),
          close ? { connection: 'close' } : {},
        );
      } else res.end();
      if (close) res.once('finish', () => req.socket.destroy());
    });
  });
  httpServer.requestTimeout = 0; // SSE streams stay open
  httpServer.headersTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const port = (httpServer.address() as AddressInfo).port;
  const policy = buildPolicy({
    bindHost: config.host,
    port,
    extraHosts: config.allowedHosts,
    extraOrigins: config.allowedOrigins,
    token: config.httpToken,
    metricsToken: config.metricsToken,
  });
  const metrics = new OperatorMetrics({ ...app.health(), sessions: () => sessionCounts(sessions) });

  const newServer = () => {
    app.start();
    return createServer({ ...app.serverDeps(logger), observe: metrics.observeCall });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // This server does no OAuth: clients such as mcp-remote probe OAuth/OpenID metadata under
    // /.well-known/ first, and a plain 404 (before the token check, which would log a refusal)
    // tells them to use the bearer token.
    if (req.url?.includes('/.well-known/')) return sendJson(res, 404, jsonRpcError('no OAuth here'));
    const url = new URL(req.url ?? '/', 'http://localhost');
    const decision = checkAccess(
      { host: req.headers.host, origin: req.headers.origin, authorization: req.headers.authorization },
      policy,
      url.pathname === '/metrics' ? 'metrics' : 'mcp',
    );
    if (!decision.ok) {
      logger.warn('HTTP request refused', { status: decision.status, reason: decision.reason, url: req.url });
      const headers: Record<string, string> =
        decision.status === 401 ? { 'www-authenticate': 'Bearer realm="vector-memory-mcp"' } : {};
      return sendJson(res, decision.status, jsonRpcError(decision.reason), headers);
    }
    if (url.pathname === '/metrics' || url.pathname === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        req.resume();
        return sendJson(res, 405, { error: 'method not allowed: use GET' }, { allow: 'GET, HEAD' });
      }
      return url.pathname === '/metrics' ? sendMetrics(res) : sendHealth(res);
    }
    if (url.pathname === '/mcp') return handleStreamable(req, res);
    if (url.pathname === '/sse' && req.method === 'GET') return openSse(res);
    if (url.pathname === '/messages' && req.method === 'POST') return postSse(req, res, url);
    if (url.pathname === '/sse' || url.pathname === '/messages') {
      return sendJson(res, 405, jsonRpcError('method not allowed'), {
        allow: url.pathname === '/sse' ? 'GET' : 'POST',
      });
    }
    return sendJson(
      res,
      404,
      jsonRpcError('not found: the MCP endpoint is /mcp (SSE: /sse; operators: /metrics, /healthz)'),
    );
  }

  async function sendMetrics(res: ServerResponse): Promise<void> {
    const text = await metrics.scrape();
    res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
    res.end(text);
  }

  /** 200 while this instance can serve (degraded included), 503 with the reasons when it cannot. */
  async function sendHealth(res: ServerResponse): Promise<void> {
    const probe = await probeHealth(app.service);
    if (probe.status === 'failing') logger.debug('health probe failing', { reasons: probe.reasons.map((r) => r.code) });
    sendJson(res, probe.status === 'failing' ? 503 : 200, probe, { 'cache-control': 'no-store' });
  }

  async function handleStreamable(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    if (req.method === 'POST') {
      const refused = refusedMedia(req);
      if (refused) {
        req.resume();
        return sendJson(res, refused.status, jsonRpcError(refused.message));
      }
    }
    const body = req.method === 'POST' ? await readJson(req, bodyLimit, config.bodyTimeoutMs) : undefined;
    if (sessionId !== undefined) {
      const session = sessions.get(sessionId);
      if (!session || session.kind !== 'streamable') {
        return sendJson(res, 404, jsonRpcError('session not found: start a new one with initialize'));
      }
      session.lastSeen = Date.now();
      return (session.transport as StreamableHTTPServerTransport).handleRequest(req, res, body);
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      return sendJson(
        res,
        400,
        jsonRpcError('bad request: missing mcp-session-id header (only initialize starts a session)'),
      );
    }
    if (sessions.size >= config.maxSessions) {
      return sendJson(res, 503, jsonRpcError(`too many sessions (limit ${config.maxSessions}); close one and retry`));
    }
    const { server, cleanup } = newServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, {
          kind: 'streamable',
          transport,
          lastSeen: Date.now(),
          close: () => transport.close(),
        });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
      cleanup();
    };
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    } finally {
      // Refused by the transport after all (no session started): nothing may stay behind.
      if (transport.sessionId === undefined || !sessions.has(transport.sessionId)) {
        cleanup();
        await server.close();
      }
    }
  }

  async function openSse(res: ServerResponse): Promise<void> {
    if (sessions.size >= config.maxSessions) {
      return sendJson(res, 503, jsonRpcError(`too many sessions (limit ${config.maxSessions}); close one and retry`));
    }
    const { server, cleanup } = newServer();
    const transport = new SSEServerTransport('/messages', res);
    const id = transport.sessionId;
    sessions.set(id, { kind: 'sse', transport, lastSeen: Date.now(), close: () => transport.close() });
    const forget = () => {
      if (sessions.delete(id)) cleanup();
    };
    transport.onclose = forget;
    res.on('close', forget);
    await server.connect(transport);
  }

  async function postSse(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const id = url.searchParams.get('sessionId') ?? '';
    const session = sessions.get(id);
    if (!session || session.kind !== 'sse') return sendJson(res, 404, jsonRpcError('session not found'));
    session.lastSeen = Date.now();
    const body = await readJson(req, bodyLimit, config.bodyTimeoutMs);
    await (session.transport as SSEServerTransport).handlePostMessage(req, res, body);
  }

  const sweep = setInterval(
    () => {
      const cutoff = Date.now() - config.sessionIdleMs;
      for (const [id, s] of sessions) {
        if (s.lastSeen < cutoff) {
          logger.info('closing an idle HTTP session', { id, kind: s.kind });
          sessions.delete(id);
          // An idle session's transport failing to close has nothing left to tell its client.
          s.close().catch(() => undefined);
        }
      }
    },
    Math.min(60_000, Math.max(250, Math.floor(config.sessionIdleMs / 4))),
  );
  sweep.unref();

  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info('vector-memory-mcp listening on HTTP', {
    streamableHttp: `${url}/mcp`,
    sse: `${url}/sse`,
    metrics: `${url}/metrics`,
    healthz: `${url}/healthz`,
    token: config.httpToken !== undefined,
    allowedHosts: policy.allowedHosts,
  });

  return {
    url,
    port,
    sessionCount: () => sessions.size,
    async close() {
      clearInterval(sweep);
      // Shutting down: a session that fails to close must not keep the others open.
      await Promise.all([...sessions.values()].map((s) => s.close().catch(() => undefined)));
      sessions.clear();
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
    },
  };
}

function sessionCounts(sessions: ReadonlyMap<string, Session>): { streamable: number; sse: number } {
  let sse = 0;
  for (const s of sessions.values()) if (s.kind === 'sse') sse++;
  return { streamable: sessions.size - sse, sse };
}

/**
 * The request body as JSON: at most `limit` bytes (413), all of it within `timeoutMs` (408: a
 * client trickling a byte now and then must not hold a connection forever).
 */
function readJson(req: IncomingMessage, limit: number, timeoutMs: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(new HttpError(413, `request body of ${declared} bytes is over the limit of ${limit}`));
  }
  return new Promise<unknown>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err: HttpError) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.resume();
      reject(err);
    };
    const timer = setTimeout(
      () =>
        fail(
          new HttpError(
            408,
            `the request body did not arrive within ${timeoutMs} ms (MEMORY_HTTP_BODY_TIMEOUT_MS)`,
            true,
          ),
        ),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return fail(new HttpError(413, `request body is over the limit of ${limit} bytes`));
      chunks.push(chunk);
    };
    const onEnd = () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new HttpError(400, 'parse error: the body is not JSON'));
      }
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.once('error', () => fail(new HttpError(400, 'the request body could not be read')));
  });
}

/**
 * The Streamable HTTP transport's own checks on a POST, made before a server and transport
 * exist for it: a request refused after them left its McpServer behind (about 60 KB each).
 */
function refusedMedia(req: IncomingMessage): HttpError | undefined {
  const accept = req.headers.accept ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
    return new HttpError(406, 'Not Acceptable: Client must accept both application/json and text/event-stream');
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    return new HttpError(415, 'Unsupported Media Type: Content-Type must be application/json');
  }
  return undefined;
}

function jsonRpcError(message: string): unknown {
  return { jsonrpc: '2.0', error: { code: -32000, message }, id: null };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
