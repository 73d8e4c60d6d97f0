// A real MCP client connected in-process to a real server (real SQLite, real faiss-node)
// over the SDK's linked in-memory transports.
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createApp, type App, type AppOverrides } from '../../src/app.js';
import { parseCommandLine } from '../../src/config/command-line.js';
import type { Config } from '../../src/config/settings.js';
import { createLogger, type Logger } from '../../src/shared/logger.js';
import { createServer } from '../../src/server/create-server.js';

/** The user cache folder tests share (gitignored), so the word-vector cache is built once. */
export const TEST_CACHE_DIR = fileURLToPath(new URL('../../.cache/user-cache', import.meta.url));

export interface Harness {
  app: App;
  client: Client;
  config: Config;
  logs: string[];
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

/** `hash`, unless `env` chooses a provider itself (by name, or an OpenAI endpoint or key for `auto`). */
export function pinnedProvider(env: Record<string, string>): Record<string, string> {
  const chosen = ['EMBEDDING_PROVIDER', 'OPENAI_BASE_URL', 'OPENAI_API_KEY'].some((k) => env[k] !== undefined);
  return chosen ? {} : { EMBEDDING_PROVIDER: 'hash' };
}

/**
 * A config as the command line makes it, for a test's data dir. Tests pin the provider they are
 * about: hash unless `env` chooses one (the word vectors are installed, so `auto` would pick them),
 * and the user cache (word-vector cache) is the project's .cache/user-cache, not the real one.
 */
export function testConfig(dataDir: string, env: Record<string, string> = {}, argv: string[] = []): Config {
  const parsed = parseCommandLine(['--data-dir', dataDir, '--index-persist-delay-ms', '0', ...argv], {
    ...pinnedProvider(env),
    MEMORY_CACHE_DIR: TEST_CACHE_DIR,
    ...env,
  });
  if (parsed.kind !== 'run') throw new Error(`bad test config: ${JSON.stringify(parsed)}`);
  return parsed.config;
}

export async function startHarness(config: Config, overrides: AppOverrides = {}): Promise<Harness> {
  const logs: string[] = [];
  const logger: Logger = createLogger('debug', (line) => logs.push(line));
  const app = createApp(config, logger, overrides);
  await app.open();
  const { server, cleanup } = createServer(app.serverDeps(logger));
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  const client = new Client({ name: 'test-client', version: '1.0.0' });
  await client.connect(clientTransport);
  app.start();
  return {
    app,
    client,
    config,
    logs,
    call: async (name, args) => (await client.callTool({ name, arguments: args })) as CallToolResult,
    close: async () => {
      await client.close();
      cleanup();
      await server.close();
      await app.close();
    },
  };
}

/** The text of a tool result's first content block. */
export function textOf(result: CallToolResult): string {
  const first = result.content[0];
  return first && first.type === 'text' ? first.text : '';
}
