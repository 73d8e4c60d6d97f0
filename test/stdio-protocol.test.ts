// The built binary over raw stdio: what a client that writes garbage, oversized messages or
// protocol mistakes gets back (an error reply each, and the server keeps serving), and how the
// process ends when its transport does.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { maxMessageBytes } from '../src/config/limits.js';
import { idOfOversized } from '../src/transports/line-transport.js';
import { testConfig } from './helpers/harness.js';
import { childEnv, cliPath, spawnServer } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';
import { callOk } from './helpers/tool-call.js';

interface Reply {
  id?: string | number | null;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

/** The binary with a line reader on its stdout: every line must be JSON (stdout is protocol). */
function rawServer(dataDir: string, env: Record<string, string> = {}) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [cliPath, '--data-dir', dataDir], {
    env: childEnv(dataDir, { MEMORY_LOG_LEVEL: 'warn', ...env }),
  });
  const replies: Reply[] = [];
  const waiters: (() => void)[] = [];
  let pending = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (c: Buffer) => {
    pending += c.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) !== -1) {
      replies.push(JSON.parse(pending.slice(0, nl)) as Reply);
      pending = pending.slice(nl + 1);
      waiters.splice(0).forEach((w) => w());
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const next = async (): Promise<Reply> => {
    while (replies.length === 0) await new Promise<void>((r) => waiters.push(r));
    return replies.shift()!;
  };
  return {
    child,
    exited,
    stderr: () => stderr,
    write: (line: string) => child.stdin.write(line + '\n'),
    async send(line: string): Promise<Reply> {
      child.stdin.write(line + '\n');
      return next();
    },
    next,
  };
}

const init = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});
const rpc = (id: number, method: string, params?: unknown) =>
  JSON.stringify({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) });

describe('stdio protocol edges (the built binary, raw lines)', () => {
  let dir: ReturnType<typeof tempDir>;
  let s: ReturnType<typeof rawServer>;
  before(() => {
    dir = tempDir();
    s = rawServer(dir.path, { MEMORY_MAX_MESSAGE_BYTES: '65536' });
  });
  after(async () => {
    s.child.stdin.end();
    assert.equal(await s.exited, 0, s.stderr());
    dir.cleanup();
  });

  it('refuses requests before initialize (ping allowed), then initializes', async () => {
    const early = await s.send(rpc(1, 'tools/list'));
    assert.equal(early.id, 1);
    assert.equal(early.error?.code, -32002);
    assert.match(early.error!.message, /send initialize before tools\/list/);
    const ping = await s.send(rpc(2, 'ping'));
    assert.deepEqual(ping, { jsonrpc: '2.0', id: 2, result: {} });
    const ok = await s.send(init);
    assert.equal(ok.id, 0);
    assert.ok(ok.result?.['serverInfo']);
    s.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  });

  it('answers a line that is not JSON with -32700 and goes on', async () => {
    const r = await s.send('{"jsonrpc": "2.0", "id": 3, "method": ');
    assert.deepEqual(r.error?.code, -32700);
    assert.equal(r.id, null);
  });

  it('answers a batch array and jsonrpc "1.0" with -32600 (with the id where there is one)', async () => {
    const batch = await s.send(`[${rpc(4, 'ping')}, ${rpc(5, 'ping')}]`);
    assert.equal(batch.error?.code, -32600);
    assert.match(batch.error!.message, /batches are not supported/);
    const old = await s.send(JSON.stringify({ jsonrpc: '1.0', id: 6, method: 'ping' }));
    assert.equal(old.id, 6);
    assert.equal(old.error?.code, -32600);
    assert.match(old.error!.message, /"jsonrpc": "2.0"/);
  });

  it('answers tools/call without params with -32602 and a readable message', async () => {
    const r = await s.send(rpc(7, 'tools/call'));
    assert.equal(r.id, 7);
    assert.equal(r.error?.code, -32602);
    assert.match(r.error!.message, /tools\/call needs params \{"name"/);
    assert.doesNotMatch(r.error!.message, /"code":|invalid_type/);
  });

  it('answers a message over MEMORY_MAX_MESSAGE_BYTES with an error for its id, and keeps serving', async () => {
    const big = rpc(8, 'tools/call', { name: 'memory_store', arguments: { text: 'x'.repeat(200_000) } });
    const r = await s.send(big);
    assert.equal(r.id, 8);
    assert.equal(r.error?.code, -32600);
    assert.match(r.error!.message, /over the limit of 65536 \(MEMORY_MAX_MESSAGE_BYTES\)/);
    const stored = await s.send(rpc(9, 'tools/call', { name: 'memory_store', arguments: { text: 'still here' } }));
    assert.equal(stored.id, 9);
    assert.equal(stored.result?.['isError'], undefined, JSON.stringify(stored));
    assert.equal(s.child.exitCode, null);
  });
});

describe('message size limits against the documented batch limits', () => {
  it('the default message limit fits the largest batch the limits allow, escaped', () => {
    const config = testConfig('/tmp/unused');
    const item = {
      text: '\u0001'.repeat(config.maxTextChars),
      id: '\u0001'.repeat(256),
      tags: Array.from({ length: 64 }, () => '\u0001'.repeat(128)),
      metadata: { k: 'v'.repeat(config.maxMetadataBytes - 12) },
    };
    const one = Buffer.byteLength(JSON.stringify(item));
    const message = Buffer.byteLength(
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'memory_store', arguments: {} } }),
    );
    const batch = one * config.maxBatchItems + config.maxBatchItems + message;
    assert.ok(maxMessageBytes(config) >= batch, `${maxMessageBytes(config)} < ${batch}`);
    assert.equal(maxMessageBytes(testConfig('/tmp/unused', { MEMORY_MAX_MESSAGE_BYTES: '100000' })), 100_000);
  });

  it('a batch of 120 x 32,000 CJK characters (11.5 MB of JSON) is stored over stdio by the default limits', async () => {
    const dir = tempDir();
    const p = await spawnServer(dir.path, { EMBEDDING_PROVIDER: 'hash' });
    try {
      const items = Array.from({ length: 120 }, (_, i) => ({
        id: `cjk-${i}`,
        text: `${String(i).padStart(4, '0')}${'記憶'.repeat(15_998)}`,
      }));
      assert.ok(Buffer.byteLength(JSON.stringify(items)) > 11_000_000);
      const out = await callOk(p, 'memory_store', { items });
      assert.equal(out.ids.length, 120);
      const [got] = (await callOk(p, 'memory_get', { id: 'cjk-7' })).memories;
      assert.equal(got?.text, items[7]!.text);
    } finally {
      await p.close();
      assert.equal(await p.exited, 0);
      dir.cleanup();
    }
  });

  it('finds the id of a cut-off message at its end or its start', () => {
    assert.equal(idOfOversized('{"method":"tools/call","params":{"a', 'xx"}},"jsonrpc":"2.0","id":42}'), 42);
    assert.equal(idOfOversized('{"jsonrpc":"2.0","id":"r-1","method":', 'xxx"}}}'), 'r-1');
    assert.equal(idOfOversized('{"method":"x","params":{"id":5,', 'xxx"}}}'), null);
  });
});

describe('when the transport ends', () => {
  it('stdout gone (EPIPE) is logged and exits non-zero; the store is intact', async () => {
    const dir = tempDir();
    const s = rawServer(dir.path, { MEMORY_LOG_LEVEL: 'info' });
    try {
      assert.ok((await s.send(init)).result);
      s.child.stdout.destroy();
      // Replies now fail to write: the transport reports it and the server shuts down.
      for (let i = 0; i < 5 && s.child.exitCode === null; i++) {
        s.write(rpc(100 + i, 'ping'));
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(await s.exited, 1);
      assert.match(s.stderr(), /stdio transport failed/);
    } finally {
      dir.cleanup();
    }
  });
});
