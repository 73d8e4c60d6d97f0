// The built binary as a separate process, driven by a real MCP client over stdio.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pinnedProvider, TEST_CACHE_DIR } from './harness.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';

export const cliPath = join(fileURLToPath(new URL('../..', import.meta.url)), 'dist', 'cli.js');

/**
 * The environment of a spawned binary: only PATH from ours, HOME in the test's directory, the
 * project's test user cache, and the provider pinned (hash unless `env` chooses one).
 */
export function childEnv(home: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '',
    HOME: home,
    MEMORY_CACHE_DIR: TEST_CACHE_DIR,
    ...pinnedProvider(env),
    ...env,
  };
}

export interface ServerProcess {
  client: Client;
  transport: StdioClientTransport;
  pid: number;
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  stderr(): string;
  /** Resolves with the process's exit code once it has exited. */
  exited: Promise<number | null>;
  close(): Promise<void>;
}

export async function spawnServer(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cliPath, '--data-dir', dataDir],
    env: childEnv(dataDir, { MEMORY_LOG_LEVEL: 'warn', ...env }),
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-20_000)));
  const client = new Client({ name: 'spawned-test', version: '1' });
  await client.connect(transport);
  // The SDK keeps the child process private; its exit code is what shutdown tests check.
  const child = (transport as unknown as { _process: ChildProcess })._process;
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.on('exit', (code) => resolve(code));
  });
  return {
    exited,
    client,
    transport,
    pid: transport.pid!,
    call: async (name, args) => (await client.callTool({ name, arguments: args })) as CallToolResult,
    stderr: () => stderr,
    close: () => client.close(),
  };
}

export async function statusOf(p: ServerProcess): Promise<{
  store: { total: number; done: number; pending: number };
  index: { live: number; last_open: { source: string; reason?: string } | null; persist_skipped: number };
}> {
  const r = await p.client.readResource({ uri: 'memory://status' });
  return JSON.parse((r.contents[0] as { text: string }).text) as never;
}
