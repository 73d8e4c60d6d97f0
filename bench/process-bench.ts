// Process-level scenarios over stdio, with the server as users run it (node dist/cli.js):
//   - cold start on a data directory that already holds N memories: initialize, first search
//   - memory_search over stdio, one client, sequentially
//   - resident memory of the server process
//   - the peer reference: @modelcontextprotocol/server-memory, driven by the same SDK client
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { tempDir } from '../test/helpers/tmp.js';
import { startHarness, testConfig } from '../test/helpers/harness.js';
import { startFalkorDB } from '../scripts/falkordb-server.mjs';
import { BENCH_PROVIDER, answeredBy, note, now, record, stats } from './common.js';
import { SERVER_MEMORY, SERVER_MEMORY_VERSION, serverMemoryEntry } from '../test/helpers/server-memory.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli.js');
const PEER = SERVER_MEMORY;
const PEER_VERSION = SERVER_MEMORY_VERSION;

interface Session {
  client: Client;
  pid: number;
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

/** The fingerprint of the provider that ranked a memory_search reply, as the reply says. */
function providerOf(reply: CallToolResult): string {
  const p = (reply.structuredContent as { provider?: { fingerprint?: string } | null } | undefined)?.provider;
  return p?.fingerprint ?? 'no provider (keyword channel only)';
}

async function connect(command: string, args: string[], env: Record<string, string>): Promise<Session> {
  const transport = new StdioClientTransport({
    command,
    args,
    env: { PATH: process.env['PATH'] ?? '', OMP_WAIT_POLICY: 'PASSIVE', ...env },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    pid: transport.pid!,
    call: async (name, a) => (await client.callTool({ name, arguments: a })) as CallToolResult,
    close: () => client.close(),
  };
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** How long Node itself takes to start and exit: the floor under any cold start. */
function nodeStartMs(): number {
  const ms: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = now();
    spawnSync(process.execPath, ['-e', '0']);
    ms.push(now() - t);
  }
  return stats(ms).p50;
}

/**
 * Cold start on `dataDir` (already holding `size` memories and a snapshot), then sequential
 * searches over stdio, and the resident size of the server process.
 */
export async function benchStdio(
  dataDir: string,
  size: number,
  queries: string[],
  rawP50: number,
  dimension: number,
): Promise<void> {
  note(`process bench: cold start with ${size} memories`);
  const started = now();
  const s = await connect(process.execPath, [cli, '--data-dir', dataDir], BENCH_PROVIDER);
  const initMs = now() - started;
  const t = now();
  const first = await s.call('memory_search', { query: queries[0]!, k: 10 });
  const firstMs = now() - t;
  if (first.isError) throw new Error(`first search failed: ${JSON.stringify(first.content)}`);
  answeredBy(providerOf(first));
  const base = nodeStartMs();
  record({
    scenario: 'cold start: initialize answered (stdio, spawn to reply)',
    size,
    figure: 'ms',
    ours: initMs,
    reference: base,
    refName: 'node -e 0 (start and exit)',
    unit: 'ms',
  });
  record({
    scenario: `cold start: first search answered (after initialize; ${(initMs + firstMs).toFixed(0)} ms from spawn)`,
    size,
    figure: 'ms',
    ours: firstMs,
    reference: 2000,
    refName: 'target 2000 ms',
    unit: 'ms',
  });
  const ms: number[] = [];
  for (const q of queries) {
    const t0 = now();
    const r = await s.call('memory_search', { query: q, k: 10 });
    ms.push(now() - t0);
    if (r.isError) throw new Error(JSON.stringify(r.content));
  }
  const p50 = stats(ms).p50;
  record({
    scenario: 'search via MCP over stdio, sequential, k=10',
    size,
    figure: 'p50 ms',
    ours: p50,
    reference: rawP50,
    unit: 'ms',
  });
  const rss = rssBytes(s.pid);
  const rawBytes = size * dimension * 4;
  record({
    scenario: `resident memory of the server (raw vectors ${(rawBytes / 2 ** 20).toFixed(0)} MiB)`,
    size,
    figure: 'MiB',
    ours: rss / 2 ** 20,
    reference: (1.5 * rawBytes + 150 * 2 ** 20) / 2 ** 20,
    refName: 'target 1.5 x raw vector bytes + 150 MiB',
    unit: 'MiB',
  });
  await s.close();
}

/**
 * The official memory server and ours, each spawned over stdio and driven by the same SDK client:
 * store `texts` in batches of 100, then search sequentially.
 */
export async function benchPeer(texts: string[], queries: string[]): Promise<void> {
  note(`process bench: ours and ${PEER}@${PEER_VERSION} with ${texts.length} items each, over stdio`);
  const dir = tempDir('vmm-bench-peer-');
  try {
    const sides = [
      {
        name: 'ours',
        session: () => connect(process.execPath, [cli, '--data-dir', join(dir.path, 'ours')], BENCH_PROVIDER),
        store: (batch: string[], i: number) =>
          ['memory_store', { items: batch.map((text, j) => ({ id: `e${i + j}`, text })) }] as const,
        search: (q: string) => ['memory_search', { query: q, k: 10 }] as const,
      },
      {
        name: 'peer',
        session: () =>
          connect(process.execPath, [serverMemoryEntry()], { MEMORY_FILE_PATH: join(dir.path, 'memory.jsonl') }),
        store: (batch: string[], i: number) =>
          [
            'create_entities',
            { entities: batch.map((text, j) => ({ name: `e${i + j}`, entityType: 'note', observations: [text] })) },
          ] as const,
        // A substring search: one word of the query.
        search: (q: string) => ['search_nodes', { query: q.split(' ').at(-1)! }] as const,
      },
    ];
    const figures: Record<string, { storePerSecond: number; p50: number }> = {};
    for (const side of sides) {
      const s = await side.session();
      const t = now();
      for (let i = 0; i < texts.length; i += 100) {
        const [name, args] = side.store(texts.slice(i, i + 100), i);
        const r = await s.call(name, args);
        if (r.isError) throw new Error(`${side.name} ${name}: ${JSON.stringify(r.content)}`);
      }
      const storePerSecond = texts.length / ((now() - t) / 1000);
      const ms: number[] = [];
      for (const q of queries) {
        const [name, args] = side.search(q);
        const t0 = now();
        const r = await s.call(name, args);
        ms.push(now() - t0);
        if (r.isError) throw new Error(`${side.name} ${name}: ${JSON.stringify(r.content)}`);
        if (side.name === 'ours') answeredBy(providerOf(r));
      }
      await s.close();
      figures[side.name] = { storePerSecond, p50: stats(ms).p50 };
    }
    record({
      scenario: `search over stdio: ours (memory_search) vs ${PEER} (search_nodes)`,
      size: texts.length,
      figure: 'p50 ms',
      ours: figures['ours']!.p50,
      reference: figures['peer']!.p50,
      refName: PEER,
      unit: 'ms',
    });
    record({
      scenario: `store in batches of 100 over stdio: ours vs ${PEER} (create_entities)`,
      size: texts.length,
      figure: 'items/s',
      ours: figures['ours']!.storePerSecond,
      reference: figures['peer']!.storePerSecond,
      refName: PEER,
      unit: '/s',
    });
  } finally {
    dir.cleanup();
  }
}

/**
 * The word-vectors provider (pinned) as a user of a plain install meets it: the first start on
 * a machine whose user cache is empty (the package's JSON is read in a thread while the server
 * answers pings), `size` memories stored in batches of 100, its resident size beside the hash
 * provider's in the same run, and a restart that loads the cache.
 */
export async function benchWordVectors(texts: string[], queries: string[]): Promise<void> {
  note(`process bench: word-vectors provider, first start on an empty user cache, ${texts.length} memories`);
  const dir = tempDir('vmm-bench-wv-');
  try {
    const env = { EMBEDDING_PROVIDER: 'word-vectors', MEMORY_CACHE_DIR: join(dir.path, 'cache') };
    const args = [cli, '--data-dir', join(dir.path, 'ours')];
    const t0 = now();
    const s = await connect(process.execPath, args, env);
    const initMs = now() - t0;
    let answered = false;
    const firstCall = s.call('memory_search', { query: queries[0]!, k: 10 }).finally(() => (answered = true));
    const pings: number[] = [];
    while (!answered) {
      const t = now();
      await s.client.ping();
      pings.push(now() - t);
      await new Promise((r) => setTimeout(r, 25));
    }
    const first = await firstCall;
    const firstMs = now() - t0;
    if (first.isError) throw new Error(`first search failed: ${JSON.stringify(first.content)}`);
    answeredBy(providerOf(first));
    record({
      scenario: `word vectors, first start on this machine: first search answered, ms from spawn (initialize ${initMs.toFixed(0)} ms)`,
      size: 0,
      figure: 'ms',
      ours: firstMs,
      reference: 3000,
      refName: 'target 3000 ms',
      unit: 'ms',
    });
    record({
      scenario: `word vectors, first start: slowest of ${pings.length} pings while the cache was built`,
      size: 0,
      figure: 'ms',
      ours: Math.max(...pings),
      reference: 100,
      refName: 'target: never blocked (100 ms)',
      unit: 'ms',
    });
    /** Memories per second stored in batches of 100 through `session`. */
    const storeAll = async (session: typeof s) => {
      const t = now();
      for (let i = 0; i < texts.length; i += 100) {
        const r = await session.call('memory_store', { items: texts.slice(i, i + 100).map((text) => ({ text })) });
        if (r.isError) throw new Error(JSON.stringify(r.content));
      }
      return texts.length / ((now() - t) / 1000);
    };
    const wordVectorRate = await storeAll(s);
    await s.call('memory_search', { query: queries[1] ?? queries[0]!, k: 10 });
    const rss = rssBytes(s.pid) / 2 ** 20;
    await s.close();
    const hash = await connect(process.execPath, [cli, '--data-dir', join(dir.path, 'hash')], BENCH_PROVIDER);
    const hashRate = await storeAll(hash);
    record({
      scenario: `word vectors (the default provider): store in batches of 100 over stdio (hash, same run: ${hashRate.toFixed(0)}/s)`,
      size: texts.length,
      figure: 'memories/s',
      ours: wordVectorRate,
      reference: 5000,
      refName: 'target 5,000/s',
      unit: '/s',
    });
    await hash.call('memory_search', { query: queries[1] ?? queries[0]!, k: 10 });
    const hashRss = rssBytes(hash.pid) / 2 ** 20;
    await hash.close();
    const restartedHash = await connect(process.execPath, [cli, '--data-dir', join(dir.path, 'hash')], BENCH_PROVIDER);
    const th = now();
    await restartedHash.call('memory_search', { query: queries[0]!, k: 10 });
    const hashFirst = now() - th;
    await restartedHash.close();
    record({
      scenario: `word vectors: resident memory with ${texts.length} memories (hash provider, same memories: ${hashRss.toFixed(0)} MiB)`,
      size: texts.length,
      figure: 'MiB',
      ours: rss,
      reference: 250,
      refName: 'target 250 MiB',
      unit: 'MiB',
    });
    const t1 = now();
    const again = await connect(process.execPath, args, env);
    const againInit = now() - t1;
    const t2 = now();
    const r = await again.call('memory_search', { query: queries[0]!, k: 10 });
    const againFirst = now() - t2;
    if (r.isError) throw new Error(JSON.stringify(r.content));
    await again.close();
    record({
      scenario: `word vectors, later start (cache read): first search after initialize (initialize ${againInit.toFixed(0)} ms from spawn)`,
      size: texts.length,
      figure: 'ms',
      ours: againFirst,
      reference: hashFirst,
      refName: 'hash provider, same memories',
      unit: 'ms',
    });
  } finally {
    dir.cleanup();
  }
}

/**
 * A fleet instance on FalkorDB: `size` memories stored into FalkorDB (in process, FAISS mode, so
 * that a snapshot exists as a restarted FAISS instance would find it), then the server spawned
 * over stdio once per MEMORY_SEARCH_INDEX on the same graph and data directory: spawn to first
 * search answered, sequential search p50 (semantic and the default hybrid), resident memory.
 * The `falkordb` mode is "ours", the `faiss` mode of the same run the reference.
 */
export async function benchSearchIndex(texts: string[], queries: string[]): Promise<void> {
  const size = texts.length;
  note(`process bench: MEMORY_SEARCH_INDEX falkordb vs faiss with ${size} memories in FalkorDB`);
  const server = await startFalkorDB();
  const dir = tempDir('vmm-bench-fleet-');
  try {
    const env = { ...BENCH_PROVIDER, FALKORDB_URL: server.url, FALKORDB_GRAPH: 'memory', BACKFILL_GRAPHS: 'memory' };
    const h = await startHarness(testConfig(dir.path, { ...env, MEMORY_SEARCH_INDEX: 'faiss' }));
    await h.app.service.ready();
    for (let i = 0; i < size; i += 100) {
      const r = await h.call('memory_store', { items: texts.slice(i, i + 100).map((text) => ({ text })) });
      if (r.isError) throw new Error(JSON.stringify(r.content));
    }
    await h.close();
    const figures: Record<string, { firstMs: number; semantic: number; hybrid: number; rss: number }> = {};
    for (const mode of ['faiss', 'falkordb']) {
      const started = now();
      const s = await connect(process.execPath, [cli, '--data-dir', dir.path], { ...env, MEMORY_SEARCH_INDEX: mode });
      const first = await s.call('memory_search', { query: queries[0]!, k: 10, mode: 'semantic' });
      const firstMs = now() - started;
      if (first.isError) throw new Error(`${mode}: first search failed: ${JSON.stringify(first.content)}`);
      const count = (first.structuredContent as { results?: unknown[] } | undefined)?.results?.length ?? 0;
      if (count === 0) throw new Error(`${mode}: the first search found nothing`);
      answeredBy(providerOf(first));
      const p50 = async (searchMode: string) => {
        const ms: number[] = [];
        for (const q of queries) {
          const t = now();
          const r = await s.call('memory_search', { query: q, k: 10, mode: searchMode });
          ms.push(now() - t);
          if (r.isError) throw new Error(`${mode} ${searchMode}: ${JSON.stringify(r.content)}`);
        }
        return stats(ms).p50;
      };
      figures[mode] = { firstMs, semantic: await p50('semantic'), hybrid: await p50('hybrid'), rss: rssBytes(s.pid) };
      await s.close();
    }
    const ours = figures['falkordb']!;
    const ref = figures['faiss']!;
    const refName = 'MEMORY_SEARCH_INDEX=faiss (Flat, snapshot), same run';
    const row = (scenario: string, figure: string, o: number, r: number, unit: string) =>
      record({ scenario: `search index falkordb: ${scenario}`, size, figure, ours: o, reference: r, refName, unit });
    row('spawn to first search answered (stdio)', 'ms', ours.firstMs, ref.firstMs, 'ms');
    row('search over stdio, semantic, sequential, k=10', 'p50 ms', ours.semantic, ref.semantic, 'ms');
    row('search over stdio, hybrid (default), sequential, k=10', 'p50 ms', ours.hybrid, ref.hybrid, 'ms');
    row('resident memory of the server after the searches', 'MiB', ours.rss / 2 ** 20, ref.rss / 2 ** 20, 'MiB');
  } finally {
    dir.cleanup();
    await server.stop();
  }
}
