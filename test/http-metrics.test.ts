// GET /metrics and GET /healthz for operators: the built binary over HTTP, driven by a real MCP
// client, scraped and parsed; the probe failing when the store stops answering (a real FalkorDB
// killed) or its writes fail (a real SQLite database that may not grow).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { connectClient, rawRequest, startHttpHarness } from './helpers/http-harness.js';
import { FakeOpenAI } from './helpers/fake-openai.js';
import { startFalkorDB, uniqueGraph } from './helpers/falkordb.js';
import { childEnv, cliPath } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

const MAIN = 'main-token-0123456789abcdef';
const SCRAPER = 'scrape-token-0123456789abcdef';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition (format 0.0.4) as samples; fails on any line it cannot read. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unreadable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    // prom-client writes NaN as "Nan"; Prometheus reads floats with Go's ParseFloat, which takes any case.
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(m[3]!), `not a number in: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

/** The one sample of `name` whose labels include `labels`; undefined when there is none. */
function sample(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

interface Spawned {
  port: number;
  url: string;
  stderr(): string;
  stop(): Promise<number | null>;
}

/** The built binary with --transport http on a free port, once it says where it listens. */
async function spawnHttp(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<Spawned> {
  const child: ChildProcess = spawn(
    process.execPath,
    [cliPath, '--transport', 'http', '--port', '0', '--data-dir', dataDir, ...args],
    {
      env: childEnv(dataDir, { MEMORY_LOG_LEVEL: 'info', ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await waitFor<string | undefined>(
    () => /"streamableHttp":"(http:\/\/127\.0\.0\.1:\d+)\/mcp"/.exec(stderr)?.[1],
    20_000,
    'the server to listen',
  );
  return {
    url: url!,
    port: Number(new URL(url!).port),
    stderr: () => stderr,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

function get(port: number, path: string, token?: string, headers: Record<string, string> = {}) {
  return rawRequest(port, {
    method: 'GET',
    path,
    headers: { host: `127.0.0.1:${port}`, ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
}

async function scrape(port: number, token = SCRAPER): Promise<Sample[]> {
  const r = await get(port, '/metrics', token);
  assert.equal(r.status, 200, r.body);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return parseExposition(r.body);
}

/** A tool result's structured content, after checking it is no error. */
function structured<T>(reply: unknown): T {
  const r = reply as CallToolResult;
  assert.notEqual(r.isError, true, JSON.stringify(r.content));
  return r.structuredContent as T;
}

const calls = (s: Sample[], tool: string, outcome: string) =>
  sample(s, 'vmm_tool_call_duration_seconds_count', { tool, outcome }) ?? 0;

describe('GET /metrics and /healthz (the built binary over HTTP)', () => {
  const fake = new FakeOpenAI();
  let failing = false;
  let dir: ReturnType<typeof tempDir>;
  let server: Spawned;
  before(async () => {
    fake.failIf = () => (failing ? 503 : undefined);
    await fake.start();
    dir = tempDir();
    server = await spawnHttp(dir.path, ['--http-token', MAIN, '--metrics-token', SCRAPER], {
      ...fake.env(32),
      EMBEDDING_BREAKER_THRESHOLD: '2',
      EMBEDDING_BREAKER_COOLDOWN_MS: '200',
      BACKFILL_INTERVAL_MS: '0',
    });
  });
  after(async () => {
    assert.equal(await server.stop(), 0, server.stderr());
    await fake.stop();
    dir.cleanup();
  });

  it('counts tool calls by tool and outcome, and its memory and index gauges equal the store', async () => {
    const client = await connectClient(server.url, 'streamable', { authorization: `Bearer ${MAIN}` });
    try {
      const before = await scrape(server.port);
      for (const text of ['the deploy runs on friday', 'the cache lives on hopper-7', 'lunch is at noon']) {
        structured(await client.callTool({ name: 'memory_store', arguments: { text } }));
      }
      for (const query of ['deploy', 'cache']) {
        structured(await client.callTool({ name: 'memory_search', arguments: { query } }));
      }
      const missing = (await client.callTool({
        name: 'memory_get',
        arguments: { id: 'no-such-id' },
      })) as CallToolResult;
      assert.equal(missing.isError, true);

      const s = await scrape(server.port);
      assert.equal(calls(s, 'memory_store', 'ok') - calls(before, 'memory_store', 'ok'), 3);
      assert.equal(calls(s, 'memory_search', 'ok') - calls(before, 'memory_search', 'ok'), 2);
      assert.equal(calls(s, 'memory_get', 'error') - calls(before, 'memory_get', 'error'), 1);
      assert.equal(calls(s, 'memory_get', 'ok'), 0);
      // A histogram: the +Inf bucket holds every call, and the durations add up to something.
      const store = { tool: 'memory_store', outcome: 'ok' };
      assert.equal(
        sample(s, 'vmm_tool_call_duration_seconds_bucket', { ...store, le: '+Inf' }),
        calls(s, ...(['memory_store', 'ok'] as const)),
      );
      assert.ok(sample(s, 'vmm_tool_call_duration_seconds_sum', store)! > 0);

      const health = structured<{
        store: { total: number; pending: number; failed: number; embedded_current_model: number };
        index: { type: string; live: number };
      }>((await client.callTool({ name: 'index_health', arguments: {} })) as CallToolResult);
      const after = await scrape(server.port);
      assert.equal(health.store.total, 3);
      assert.equal(sample(after, 'vmm_memories', { status: 'done' }), health.store.embedded_current_model);
      assert.equal(sample(after, 'vmm_memories', { status: 'pending' }), health.store.pending);
      assert.equal(sample(after, 'vmm_memories', { status: 'failed' }), health.store.failed);
      assert.equal(sample(after, 'vmm_backfill_queue'), health.store.pending);
      assert.equal(sample(after, 'vmm_store_up'), 1);
      assert.equal(sample(after, 'vmm_index_open'), 1);
      assert.equal(sample(after, 'vmm_index_vectors'), health.index.live);
      assert.equal(sample(after, 'vmm_index_vectors'), 3);
      assert.equal(sample(after, 'vmm_index_tombstones'), 0);
      assert.equal(sample(after, 'vmm_index_type', { type: health.index.type }), 1);
      assert.equal(sample(after, 'vmm_index_type', { type: 'IVF' }), 0);
      assert.equal(sample(after, 'vmm_mcp_sessions', { transport: 'streamable_http' }), 1);
      assert.equal(sample(after, 'vmm_mcp_sessions', { transport: 'sse' }), 0);
      const sse = await connectClient(server.url, 'sse', { authorization: `Bearer ${MAIN}` });
      structured(await sse.callTool({ name: 'memory_search', arguments: { query: 'lunch' } }));
      const withSse = await scrape(server.port);
      assert.equal(sample(withSse, 'vmm_mcp_sessions', { transport: 'sse' }), 1);
      assert.equal(calls(withSse, 'memory_search', 'ok') - calls(s, 'memory_search', 'ok'), 1, 'SSE calls count too');
      await sse.close();
      assert.equal(sample(after, 'vmm_embedding_circuit_state', { state: 'closed' }), 1);
      assert.ok(sample(after, 'process_resident_memory_bytes')! > 1e6);

      structured(await client.callTool({ name: 'memory_delete', arguments: { id: await firstId(client) } }));
      const deleted = await scrape(server.port);
      assert.equal(sample(deleted, 'vmm_index_vectors'), 2);
      assert.equal(sample(deleted, 'vmm_index_tombstones'), 1);
      assert.equal(
        (sample(deleted, 'vmm_memories', { status: 'done' }) ?? 0) -
          (sample(after, 'vmm_memories', { status: 'done' }) ?? 0),
        -1,
      );
    } finally {
      // DELETE /mcp: the session ends now, not when it has been idle long enough.
      await (client.transport as StreamableHTTPClientTransport).terminateSession();
      await client.close();
    }
    const closed = await waitFor(
      async () => {
        const s = await scrape(server.port);
        return sample(s, 'vmm_mcp_sessions', { transport: 'streamable_http' }) === 0 ? s : undefined;
      },
      5000,
      'the closed session to leave the gauge',
    );
    assert.ok(closed);
  });

  it('shows the breaker opening while the provider fails, and the backfill embedding what waited', async () => {
    const client = await connectClient(server.url, 'streamable', { authorization: `Bearer ${MAIN}` });
    try {
      const before = await scrape(server.port);
      failing = true;
      for (const text of ['written while the provider fails', 'also written during the outage']) {
        structured(await client.callTool({ name: 'memory_store', arguments: { text } }));
      }
      const during = await scrape(server.port);
      assert.equal(sample(during, 'vmm_memories', { status: 'pending' }), 2);
      assert.equal(sample(during, 'vmm_backfill_queue'), 2);
      assert.equal(sample(during, 'vmm_embedding_circuit_state', { state: 'open' }), 1);
      assert.equal(
        sample(during, 'vmm_embedding_circuit_opened_total')! - sample(before, 'vmm_embedding_circuit_opened_total')!,
        1,
      );
      failing = false;
      const embedded = (s: Sample[]) => sample(s, 'vmm_backfill_records_total', { outcome: 'embedded' }) ?? 0;
      const done = (await waitFor(
        async () => {
          const s = await scrape(server.port);
          return embedded(s) - embedded(before) >= 2 && sample(s, 'vmm_memories', { status: 'pending' }) === 0
            ? s
            : undefined;
        },
        20_000,
        'the backfill to embed the two pending memories',
      ))!;
      assert.equal(embedded(done) - embedded(before), 2);
      assert.equal(sample(done, 'vmm_backfill_queue'), 0);
      assert.equal(sample(done, 'vmm_embedding_circuit_state', { state: 'closed' }), 1);
    } finally {
      failing = false;
      await client.close();
    }
  });

  it('GET /healthz answers 200 with status serving while the store and index serve', async () => {
    const r = await get(server.port, '/healthz', MAIN);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { status: 'serving', reasons: [] });
  });

  it('tokens: none -> 401; the main token opens everything; the metrics token opens /metrics only', async () => {
    for (const path of ['/metrics', '/healthz']) {
      const none = await get(server.port, path);
      assert.equal(none.status, 401, path);
      assert.match(String(none.headers['www-authenticate']), /^Bearer/);
      assert.equal((await get(server.port, path, 'wrong-token-0123456789abcdef')).status, 401, path);
      assert.equal((await get(server.port, path, MAIN)).status, 200, path);
    }
    assert.equal((await get(server.port, '/metrics', SCRAPER)).status, 200);
    assert.equal((await get(server.port, '/healthz', SCRAPER)).status, 401);
    const mcp = await rawRequest(server.port, {
      headers: {
        host: `127.0.0.1:${server.port}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${SCRAPER}`,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }),
    });
    assert.equal(mcp.status, 401, 'the metrics token does not open /mcp');
  });

  it('Host and Origin checks as on /mcp (403); other methods -> 405 with Allow', async () => {
    for (const path of ['/metrics', '/healthz']) {
      assert.equal((await get(server.port, path, MAIN, { host: 'evil.example:80' })).status, 403, path);
      assert.equal((await get(server.port, path, MAIN, { origin: 'http://evil.example' })).status, 403, path);
      const post = await rawRequest(server.port, {
        method: 'POST',
        path,
        headers: { host: `127.0.0.1:${server.port}`, authorization: `Bearer ${MAIN}` },
        body: '{}',
      });
      assert.equal(post.status, 405, path);
      assert.equal(post.headers['allow'], 'GET, HEAD');
    }
  });
});

async function firstId(client: Awaited<ReturnType<typeof connectClient>>): Promise<string> {
  const list = structured<{ memories: { id: string }[] }>(
    (await client.callTool({ name: 'memory_list', arguments: {} })) as CallToolResult,
  );
  return list.memories[0]!.id;
}

describe('GET /healthz failing', () => {
  it('503 with store_unavailable when FalkorDB stops answering; /metrics then says vmm_store_up 0', async () => {
    const falkor = await startFalkorDB();
    const dir = tempDir();
    const server = await spawnHttp(dir.path, ['--embedding-provider', 'hash'], {
      FALKORDB_URL: falkor.url,
      FALKORDB_GRAPH: uniqueGraph('healthz'),
      FALKORDB_TIMEOUT_MS: '2000',
    });
    try {
      await waitFor(async () => (await get(server.port, '/healthz')).status === 200, 20_000, 'healthz 200');
      await falkor.kill();
      const r = await get(server.port, '/healthz');
      assert.equal(r.status, 503, r.body);
      const body = JSON.parse(r.body) as { status: string; reasons: { code: string; message: string }[] };
      assert.equal(body.status, 'failing');
      assert.ok(
        body.reasons.some((x) => x.code === 'store_unavailable' && /does not answer/.test(x.message)),
        r.body,
      );
      const s = parseExposition((await get(server.port, '/metrics')).body);
      assert.equal(sample(s, 'vmm_store_up'), 0);
      assert.equal(sample(s, 'vmm_memories', { status: 'done' }), undefined);
      assert.ok(Number.isNaN(sample(s, 'vmm_backfill_queue')), 'store down: no queue length, not 0');
    } finally {
      assert.equal(await server.stop(), 0, server.stderr());
      await falkor.stop();
      dir.cleanup();
    }
  });

  it('503 with index_unavailable while the index cannot open (the provider never told its dimension); 200 once it can', async () => {
    const api = await new FakeOpenAI().start();
    let refusing = true;
    api.failIf = () => (refusing ? 401 : undefined);
    const dir = tempDir();
    const server = await spawnHttp(dir.path, [], {
      OPENAI_BASE_URL: api.url,
      OPENAI_API_KEY: 'sk-test',
      EMBEDDING_MODEL: 'a-model-of-unknown-dimension',
      EMBEDDING_MAX_RETRIES: '0',
    });
    try {
      const r = await get(server.port, '/healthz');
      assert.equal(r.status, 503, r.body);
      const body = JSON.parse(r.body) as { status: string; reasons: { code: string; message: string }[] };
      assert.equal(body.status, 'failing');
      assert.deepEqual(
        body.reasons.map((x) => x.code),
        ['index_unavailable'],
      );
      assert.match(body.reasons[0]!.message, /search index is not available: .*401/);
      const s = parseExposition((await get(server.port, '/metrics')).body);
      assert.equal(sample(s, 'vmm_index_open'), 0);
      assert.ok(Number.isNaN(sample(s, 'vmm_index_vectors')), 'no index: no vector count, not 0');
      assert.equal(sample(s, 'vmm_store_up'), 1);
      refusing = false;
      await waitFor(async () => (await get(server.port, '/healthz')).status === 200, 20_000, 'healthz 200 again');
    } finally {
      assert.equal(await server.stop(), 0, server.stderr());
      await api.stop();
      dir.cleanup();
    }
  });

  it('503 with store_write_failing while SQLite writes fail (database full); 200 again after a good write', async () => {
    const dir = tempDir();
    const h = await startHttpHarness(dir.path);
    const client = await connectClient(h.http.url, 'streamable');
    try {
      structured(
        await client.callTool({ name: 'memory_store', arguments: { text: 'stored before the disk filled up' } }),
      );
      assert.equal((await get(h.http.port, '/healthz')).status, 200);
      const db = (h.app.store as unknown as { db: { pragma(s: string, o?: object): unknown } }).db;
      db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
      const failed = (await client.callTool({
        name: 'memory_store',
        arguments: { text: 'x '.repeat(15_000) },
      })) as CallToolResult;
      assert.equal(failed.isError, true);
      const r = await get(h.http.port, '/healthz');
      assert.equal(r.status, 503, r.body);
      const reasons = (JSON.parse(r.body) as { reasons: { code: string }[] }).reasons.map((x) => x.code);
      assert.deepEqual(reasons, ['store_write_failing']);
      const s = parseExposition((await get(h.http.port, '/metrics')).body);
      assert.equal(calls(s, 'memory_store', 'error'), 1);

      db.pragma('max_page_count = 1073741823');
      structured(await client.callTool({ name: 'memory_store', arguments: { text: 'stored once there is room' } }));
      assert.equal((await get(h.http.port, '/healthz')).status, 200);
    } finally {
      await client.close();
      await h.close();
      dir.cleanup();
    }
  });
});
