// Spawns the built binary, as a client would, and talks to it over real stdio.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/tmp.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli.js');

interface Session {
  request(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
  notify(method: string): void;
  /** Every line the server wrote to stdout. */
  stdoutLines: string[];
  stderr: () => string;
  close(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startServer(dataDir: string): Session {
  const child = spawn(process.execPath, [cli, '--data-dir', dataDir], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '' },
  });
  const stdoutLines: string[] = [];
  let stderr = '';
  let buffer = '';
  const waiting = new Map<number, (msg: Record<string, unknown>) => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      stdoutLines.push(line);
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (typeof msg['id'] === 'number') waiting.get(msg['id'])?.(msg);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let nextId = 1;
  return {
    stdoutLines,
    stderr: () => stderr,
    request(method, params = {}) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${method}; stderr: ${stderr}`)), 15_000);
        waiting.set(id, (msg) => {
          clearTimeout(timer);
          resolve(msg);
        });
        child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
      });
    },
    notify(method) {
      child.stdin.write(JSON.stringify({ jsonrpc: '2.0', method }) + '\n');
    },
    async close() {
      child.stdin.end();
      return exited;
    },
    async kill(signal) {
      child.kill(signal);
      return exited;
    },
  };
}

async function handshake(s: Session): Promise<Record<string, unknown>> {
  const init = await s.request('initialize', {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'stdio-test', version: '1' },
  });
  s.notify('notifications/initialized');
  return init;
}

const callTool = async (s: Session, name: string, args: Record<string, unknown>) => {
  const msg = await s.request('tools/call', { name, arguments: args });
  return msg['result'] as {
    structuredContent?: Record<string, unknown>;
    isError?: boolean;
    content: { text: string }[];
  };
};

describe('the built binary over stdio', () => {
  let dir: ReturnType<typeof tempDir>;
  before(() => {
    assert.ok(existsSync(cli), 'npm test builds dist/ first');
    dir = tempDir();
  });
  after(() => dir.cleanup());

  it('stores, restarts, finds the memory again, and writes nothing but protocol to stdout', async () => {
    const first = startServer(dir.path);
    const init = await handshake(first);
    assert.equal((init['result'] as { serverInfo: { name: string } }).serverInfo.name, 'vector-memory-mcp');
    const stored = await callTool(first, 'memory_store', {
      id: 'durable-1',
      text: 'The staging database lives in Frankfurt',
      tags: ['infra'],
    });
    assert.deepEqual(stored.structuredContent?.['ids'], ['durable-1']);
    const exit1 = await first.close();
    assert.equal(exit1.code, 0, `clean exit on stdin close; stderr: ${first.stderr()}`);
    assert.ok(existsSync(join(dir.path, 'index')), 'index persisted on shutdown');

    const second = startServer(dir.path);
    await handshake(second);
    const found = await callTool(second, 'memory_search', { query: 'where is the staging database' });
    const results = found.structuredContent?.['results'] as { id: string; text: string }[];
    assert.equal(results[0]?.id, 'durable-1');
    assert.match(second.stderr(), /source":"snapshot"/, 'the second start loaded the persisted index');
    const exit2 = await second.kill('SIGTERM');
    assert.equal(exit2.code, 0, 'clean exit on SIGTERM');

    for (const s of [first, second]) {
      assert.ok(s.stdoutLines.length >= 2, 'an answer per request');
      for (const line of s.stdoutLines) {
        const msg = JSON.parse(line) as Record<string, unknown>;
        assert.equal(msg['jsonrpc'], '2.0', `stdout line is not JSON-RPC: ${line}`);
      }
      assert.match(s.stderr(), /listening on stdio/, 'logs go to stderr');
    }
  });

  it('answers initialize before the index is opened', async () => {
    const s = startServer(dir.path);
    await handshake(s);
    const [initLine] = s.stdoutLines;
    assert.ok(initLine?.includes('"serverInfo"'));
    // The index opens after `initialized`: its log line comes after the handshake was answered.
    await new Promise((r) => setTimeout(r, 500));
    assert.match(s.stderr(), /search index ready/);
    await s.close();
  });

  it('prints --help with every setting and exits 0', () => {
    const r = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /MEMORY_DATA_DIR/);
    assert.match(r.stdout, /EMBEDDING_PROVIDER/);
  });

  it('exits 2 naming the setting when a value is bad', () => {
    const r = spawnSync(process.execPath, [cli], {
      encoding: 'utf8',
      env: { ...process.env, EMBEDDING_DIMENSIONS: 'lots' },
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /EMBEDDING_DIMENSIONS/);
    assert.equal(r.stdout, '');
  });
});
