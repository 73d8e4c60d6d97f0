import { request } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createApp, type App } from '../../src/app.js';
import { createLogger } from '../../src/shared/logger.js';
import { startHttp, type HttpHandle } from '../../src/transports/http.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { testConfig } from './harness.js';

export interface HttpHarness {
  app: App;
  http: HttpHandle;
  logs: string[];
  close(): Promise<void>;
}

export async function startHttpHarness(dataDir: string, argv: string[] = []): Promise<HttpHarness> {
  const logs: string[] = [];
  const app = createApp(
    testConfig(dataDir, {}, ['--transport', 'http', '--port', '0', ...argv]),
    createLogger('debug', (l) => logs.push(l)),
  );
  await app.open();
  const http = await startHttp(
    app,
    createLogger('debug', (l) => logs.push(l)),
  );
  return {
    app,
    http,
    logs,
    close: async () => {
      await http.close();
      await app.close();
    },
  };
}

/** Every message the client transport received, in order (what the server really sent). */
export const received = new WeakMap<Client, JSONRPCMessage[]>();

export async function connectClient(
  baseUrl: string,
  kind: 'streamable' | 'sse',
  headers: Record<string, string> = {},
): Promise<Client> {
  const client = new Client({ name: `test-${kind}`, version: '1.0.0' });
  const transport =
    kind === 'streamable'
      ? new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), { requestInit: { headers } })
      : new SSEClientTransport(new URL(`${baseUrl}/sse`), {
          requestInit: { headers },
          eventSourceInit: {
            fetch: (url, init) =>
              fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }),
          },
        });
  await client.connect(transport);
  const log: JSONRPCMessage[] = [];
  const dispatch = transport.onmessage;
  transport.onmessage = (message: JSONRPCMessage) => {
    log.push(message);
    dispatch?.(message);
  };
  received.set(client, log);
  return client;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A plain HTTP request with full control of Host and every other header. */
export function rawRequest(
  port: number,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'POST',
        path: options.path ?? '/mcp',
        headers: options.headers ?? {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

export const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
