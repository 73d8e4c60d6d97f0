// Each timeout firing, the circuit breaker opening and closing, and shutdown under load.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { CircuitBreakerProvider } from '../src/embeddings/circuit-breaker.js';
import { HashEmbeddingProvider } from '../src/embeddings/hash-provider.js';
import { EmbeddingError } from '../src/shared/errors.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { MemoryStore } from '../src/store/types.js';
import { FakeOpenAI } from './helpers/fake-openai.js';
import { startHarness, testConfig, textOf, type Harness } from './helpers/harness.js';
import { childEnv, cliPath, spawnServer, statusOf } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';
import { callOk, output } from './helpers/tool-call.js';
import { waitFor } from './helpers/wait.js';

describe('timeouts', () => {
  let api: FakeOpenAI;
  let dir: ReturnType<typeof tempDir>;
  let h: Harness | undefined;
  beforeEach(async () => {
    api = await new FakeOpenAI().start();
    dir = tempDir();
  });
  afterEach(async () => {
    await h?.close();
    h = undefined;
    await api.stop();
    dir.cleanup();
  });
  const openai = (extra: Record<string, string> = {}) => api.env(16, { BACKFILL_INTERVAL_MS: '0', ...extra });

  it('an embedding request that hangs: search says it timed out, a store keeps the memory as pending', async () => {
    h = await startHarness(testConfig(dir.path, openai({ EMBEDDING_TIMEOUT_MS: '300' })));
    await h.app.service.ready();
    api.script.push({ kind: 'hang' });
    const search = await h.call('memory_search', { query: 'anything', mode: 'semantic' });
    assert.equal(search.isError, true);
    assert.match(textOf(search), /timed out/);
    api.script.push({ kind: 'hang' });
    const hybrid = await h.call('memory_search', { query: 'anything' });
    assert.equal(hybrid.isError, undefined, 'hybrid answers from the keyword channel');
    assert.match((output('memory_search', hybrid).notes ?? []).join(' '), /timed out/);
    api.script.push({ kind: 'hang' });
    const store = await h.call('memory_store', { id: 'slow', text: 'written while the provider hangs' });
    assert.equal(store.isError, undefined);
    assert.match(textOf(store), /not searchable by meaning yet.*timed out/);
  });

  it('a whole tool call: answers TIMEOUT in time, cancels its embedding request, and writes nothing', async () => {
    h = await startHarness(
      testConfig(dir.path, openai({ MEMORY_TOOL_TIMEOUT_MS: '300', EMBEDDING_TIMEOUT_MS: '5000' })),
    );
    await h.app.service.ready();
    api.delayMs = 1200;
    const started = Date.now();
    const r = await h.call('memory_store', {
      items: [
        { id: 'late-1', text: 'slow one' },
        { id: 'late-2', text: 'slow two' },
      ],
    });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /TIMEOUT: memory_store did not finish within 300 ms.*rest was cancelled/);
    assert.ok(Date.now() - started < 1000, 'answered at the timeout, not when the work ended');
    await waitFor(() => api.abandoned === 1, 3000, 'the embedding request to be closed');
    api.delayMs = 0;
    await new Promise((r) => setTimeout(r, 1500)); // past the moment the provider would have answered
    const got = await h.call('memory_get', { ids: ['late-1', 'late-2'] });
    assert.equal(got.isError, true, 'neither memory was written');
    assert.equal((await h.app.store.stats()).total, 0);
  });

  it('a memory_store the client cancels: its embedding request is closed, nothing is written, the server goes on', async () => {
    h = await startHarness(testConfig(dir.path, openai({ EMBEDDING_TIMEOUT_MS: '10000' })));
    await h.app.service.ready();
    api.script.push({ kind: 'hang' });
    const controller = new AbortController();
    const call = h.client.callTool(
      { name: 'memory_store', arguments: { id: 'cancelled', text: 'never written' } },
      undefined,
      { signal: controller.signal },
    );
    await waitFor(() => api.requests.length === 1, 3000, 'the embedding request');
    controller.abort();
    await assert.rejects(call, /abort/i);
    await waitFor(() => api.abandoned === 1, 3000, 'the embedding request to be closed');
    await waitFor(() => h!.app.calls.size === 0, 3000, 'the call to end on the server');
    assert.equal((await h.app.store.stats()).total, 0, 'nothing half-written');
    assert.equal(h.app.breaker.status().consecutive_failures, 0, 'a cancellation is not a provider failure');
    const ok = await h.call('memory_store', { id: 'after', text: 'written after the cancelled one' });
    assert.equal(ok.isError, undefined, textOf(ok));
  });

  it('a SQLite write lock held by another process: fails after the busy timeout, nothing changed, then works', async () => {
    h = await startHarness(testConfig(dir.path, { MEMORY_DB_BUSY_TIMEOUT_MS: '200', BACKFILL_INTERVAL_MS: '0' }));
    await h.app.service.ready();
    const other = new Database(join(dir.path, 'memories.db'));
    other.exec('BEGIN IMMEDIATE');
    const r = await h.call('memory_store', { id: 'blocked', text: 'cannot be written yet' });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /TIMEOUT: the database stayed locked by another process.*nothing was changed/);
    other.exec('ROLLBACK');
    other.close();
    const ok = await h.call('memory_store', { id: 'blocked', text: 'written now' });
    assert.equal(ok.isError, undefined, textOf(ok));
  });

  it('the search index busy for too long: a search says so instead of waiting forever', async () => {
    const store = new SqliteStore(join(dir.path, 'memories.db'));
    let slow = false;
    const slowStore = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'changesSince' && typeof value === 'function') {
          return async (...args: unknown[]) => {
            if (slow) await new Promise((r) => setTimeout(r, 1500));
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as MemoryStore;
    h = await startHarness(testConfig(dir.path, { MEMORY_INDEX_TIMEOUT_MS: '200', BACKFILL_INTERVAL_MS: '0' }), {
      store: slowStore,
    });
    await h.app.service.ready();
    await h.call('memory_store', { id: 'a', text: 'first memory' });
    slow = true;
    // Already embedded, so the backfill has nothing to do: only the two searches compete for the index.
    const vector = new HashEmbeddingProvider().embedOne('second');
    await store.upsert([
      {
        id: 'b',
        namespace: 'default',
        text: 'second',
        metadata: {},
        tags: [],
        embedding: { vector, fingerprint: 'hash:feature-hash-v1:384' },
      },
    ]);
    const first = h.call('memory_search', { query: 'first' }); // holds the index while it catches up slowly
    await new Promise((r) => setTimeout(r, 50));
    const second = await h.call('memory_search', { query: 'first', mode: 'semantic' });
    assert.equal(second.isError, true);
    assert.match(
      textOf(second),
      /search index is busy \((searching|catching up with the store)\); gave up after 200 ms/,
    );
    // Hybrid (the default) answers from the keyword channel meanwhile, and says why.
    const hybrid = await h.call('memory_search', { query: 'first' });
    assert.equal(hybrid.isError, undefined, textOf(hybrid));
    assert.equal(output('memory_search', hybrid).results[0]?.id, 'a');
    assert.match((output('memory_search', hybrid).notes ?? []).join(' '), /busy/);
    slow = false;
    const firstResult = await first;
    assert.equal(firstResult.isError, undefined, textOf(firstResult));
  });

  it('an index still opening: hybrid answers by keyword after 3 s and says so; semantic waits for it', async () => {
    const store = new SqliteStore(join(dir.path, 'memories.db'));
    // The open's first read of the change feed takes 4 s (a rebuild of a large store takes tens of seconds).
    let stall: Promise<void> | undefined;
    const slowStore = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'changesSince' && typeof value === 'function') {
          return async (...args: unknown[]) => {
            stall ??= new Promise((r) => setTimeout(r, 4000));
            await stall;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as MemoryStore;
    h = await startHarness(testConfig(dir.path, { BACKFILL_INTERVAL_MS: '0' }), { store: slowStore });
    const vector = new HashEmbeddingProvider().embedOne('the vault password rotates on mondays');
    await store.upsert([
      {
        id: 'k1',
        namespace: 'default',
        text: 'the vault password rotates on mondays',
        metadata: {},
        tags: [],
        embedding: { vector, fingerprint: 'hash:feature-hash-v1:384' },
      },
    ]);
    const hybrid = output('memory_search', await h.call('memory_search', { query: 'vault password' }));
    assert.equal(hybrid.results[0]?.id, 'k1');
    assert.equal(hybrid.results[0]!.semantic, undefined);
    assert.match((hybrid.notes ?? []).join(' '), /still opening after 3000 ms\): keyword results only/);
    const semantic = output(
      'memory_search',
      await h.call('memory_search', { query: 'vault password', mode: 'semantic' }),
    );
    assert.equal(semantic.results[0]?.id, 'k1');
    assert.ok(semantic.results[0]!.semantic, 'ranked by the index once it opened');
  });
});

describe('circuit breaker', () => {
  class Flaky extends HashEmbeddingProvider {
    calls = 0;
    failing = true;
    override async embed(texts: readonly string[]): Promise<Float32Array[]> {
      this.calls++;
      if (this.failing) throw new EmbeddingError('HTTP 503', { permanent: false, status: 503 });
      return super.embed(texts);
    }
  }

  it('opens after the threshold, refuses without calling, lets one trial through after the cooldown, closes on success', async () => {
    let now = 1_000_000;
    const inner = new Flaky({ dimension: 8 });
    const breaker = new CircuitBreakerProvider(inner, { threshold: 3, cooldownMs: 10_000, now: () => now });
    for (let i = 0; i < 3; i++) await assert.rejects(breaker.embed(['x']), /503/);
    assert.equal(breaker.status().state, 'open');
    assert.equal(inner.calls, 3);
    await assert.rejects(breaker.embed(['x']), /circuit breaker open/);
    assert.equal(inner.calls, 3, 'not called while open');
    now += 10_001;
    await assert.rejects(breaker.embed(['x']), /503/);
    assert.equal(inner.calls, 4, 'one trial after the cooldown');
    assert.equal(breaker.status().state, 'open', 'a failed trial opens it again');
    now += 10_001;
    inner.failing = false;
    assert.equal((await breaker.embed(['x'])).length, 1);
    assert.equal(breaker.status().state, 'closed');
    assert.equal(breaker.status().times_opened, 2);
  });

  it('does not count input errors', async () => {
    const tooLong = new (class extends HashEmbeddingProvider {
      override async embed(): Promise<Float32Array[]> {
        throw new EmbeddingError('HTTP 400: too long', { permanent: true, status: 400 });
      }
    })({ dimension: 8 });
    const b = new CircuitBreakerProvider(tooLong, { threshold: 1, cooldownMs: 10_000 });
    await assert.rejects(b.embed(['x']), /400/);
    assert.equal(b.status().state, 'closed');
    assert.equal(b.status().consecutive_failures, 0);
  });

  it('stops hammering a failing provider and shows it in backfill_status, through the server', async () => {
    const api = await new FakeOpenAI().start();
    const dir = tempDir();
    const h = await startHarness(
      testConfig(dir.path, {
        ...api.env(16),
        EMBEDDING_BREAKER_THRESHOLD: '2',
        EMBEDDING_BREAKER_COOLDOWN_MS: '600',
        BACKFILL_INTERVAL_MS: '0',
      }),
    );
    try {
      await h.app.service.ready();
      for (let i = 0; i < 10; i++) api.script.push({ kind: 'status', status: 503 });
      for (let i = 0; i < 5; i++) await h.call('memory_store', { id: `b${i}`, text: `memory ${i}` });
      assert.equal(api.requests.length, 2, 'after two failures the provider is not called');
      const s = await callOk(h, 'backfill_status', {});
      assert.equal(s.provider.circuit?.state, 'open');
      api.script.length = 0;
      await new Promise((r) => setTimeout(r, 700));
      const run = await callOk(h, 'backfill_run', { wait: true });
      assert.equal(run.run.embedded, 5, 'after the cooldown the pending memories are embedded');
      const after = await callOk(h, 'backfill_status', {});
      assert.equal(after.provider.circuit?.state, 'closed');
    } finally {
      await h.close();
      await api.stop();
      dir.cleanup();
    }
  });
});

describe('graceful shutdown under load', () => {
  it('SIGTERM during a provider outage: the backfill sleep and the calls in flight are cut short, exit 0, snapshot written', async () => {
    const api = await new FakeOpenAI().start();
    const dir = tempDir();
    const drainMs = 2000;
    const child = await spawnServer(dir.path, api.env(16, { MEMORY_SHUTDOWN_TIMEOUT_MS: String(drainMs) }));
    try {
      const ok = await child.call('memory_store', { id: 'kept', text: 'stored while the provider answered' });
      assert.equal(ok.isError, undefined, textOf(ok));
      assert.equal((await child.call('memory_search', { query: 'provider', k: 1 })).isError, undefined);
      // The outage: failures first (a pending memory; the backfill backs off), then no answer at all.
      api.failIf = () => 503;
      const pending = await child.call('memory_store', { id: 'pending', text: 'stored during the outage' });
      assert.match(textOf(pending), /not searchable by meaning yet/);
      await waitFor(() => /backfill backing off/.test(child.stderr()), 15_000, 'the backfill to back off');
      api.failIf = undefined;
      api.delayMs = 120_000;
      const inFlight = child.call('memory_store', { id: 'in-flight', text: 'never acknowledged' }).catch(() => null);
      await waitFor(
        () => api.requests.some((r) => r.input.includes('never acknowledged')),
        5000,
        'the hanging request',
      );
      const started = Date.now();
      process.kill(child.pid, 'SIGTERM');
      const code = await child.exited;
      const took = Date.now() - started;
      assert.equal(code, 0, child.stderr());
      assert.ok(took < drainMs + 3000, `shutdown took ${took} ms`);
      assert.equal(await inFlight, null, 'the call in flight was never acknowledged');
    } finally {
      await child.close().catch(() => undefined);
    }
    api.delayMs = 0;
    const again = await spawnServer(dir.path, api.env(16, { BACKFILL_INTERVAL_MS: '0' }));
    try {
      assert.equal((await again.call('memory_search', { query: 'provider', k: 1 })).isError, undefined);
      const s = await statusOf(again);
      assert.equal(s.index.last_open?.source, 'snapshot', 'the snapshot was written at shutdown');
      const got = await callOk(again, 'memory_get', { ids: ['kept', 'pending', 'in-flight'] });
      assert.deepEqual(got.memories.map((m) => m.id).sort(), ['kept', 'pending']);
    } finally {
      await again.close();
      await api.stop();
      dir.cleanup();
    }
  });

  it(
    'SIGTERM with 60 stores in flight: exits 0, every acknowledged write is there, the snapshot loads',
    { timeout: 120_000 },
    async () => {
      const dir = tempDir();
      const child = spawn(process.execPath, [cliPath, '--data-dir', dir.path], {
        env: childEnv(dir.path),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const answers = new Map<number, { isError?: boolean }>();
      let buffer = '';
      child.stdout.on('data', (c: Buffer) => {
        buffer += c.toString();
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const msg = JSON.parse(buffer.slice(0, nl)) as { id?: number; result?: { isError?: boolean } };
          buffer = buffer.slice(nl + 1);
          if (typeof msg.id === 'number' && msg.result) answers.set(msg.id, msg.result);
        }
      });
      const send = (m: unknown) => child.stdin.write(JSON.stringify(m) + '\n');
      send({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'shutdown', version: '1' } },
      });
      await waitFor(() => answers.has(0), 10_000, 'initialize');
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      for (let i = 1; i <= 60; i++) {
        const items = Array.from({ length: 20 }, (_, j) => ({
          id: `s${i}-${j}`,
          text: `shutdown test ${i} ${j} lorem`,
        }));
        send({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'memory_store', arguments: { items } } });
      }
      await new Promise((r) => setTimeout(r, 20));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      assert.match(stderr, /shutting down/);
      const acked = [...answers].filter(([id, r]) => id > 0 && !r.isError).map(([id]) => id);
      assert.ok(acked.length > 0, 'calls in flight were answered before the exit');

      const again = await spawnServer(dir.path);
      try {
        for (const i of acked) {
          const r = await again.call('memory_get', { ids: Array.from({ length: 20 }, (_, j) => `s${i}-${j}`) });
          assert.equal(output('memory_get', r).memories.length, 20, `batch ${i} was acknowledged`);
        }
        // memory_get does not need the index; a search waits until it has opened.
        assert.equal((await again.call('memory_search', { query: 'shutdown test', k: 1 })).isError, undefined);
        const s = await statusOf(again);
        assert.equal(s.index.last_open?.source, 'snapshot', 'the index was persisted on shutdown');
        assert.equal(s.index.live, s.store.total);
        assert.equal(s.store.total % 20, 0, 'no batch is half there');
      } finally {
        await again.close();
        dir.cleanup();
      }
    },
  );
});
