// Several server processes on one store: every write from every process is kept and found.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFalkorDB, uniqueGraph, type FalkorServer } from './helpers/falkordb.js';
import { spawnServer, statusOf, type ServerProcess } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';
import { callOk, output } from './helpers/tool-call.js';

const words = [
  'amber',
  'basalt',
  'cedar',
  'delta',
  'ember',
  'fjord',
  'garnet',
  'harbor',
  'indigo',
  'juniper',
  'kelp',
  'lagoon',
  'meadow',
  'nectar',
  'onyx',
  'prairie',
];
/** A distinct, searchable text for memory `i` of process `p`. */
const textOf = (p: number, i: number) =>
  `process ${p} note ${i}: ${words[i % 16]} ${words[(i >> 4) % 16]} ${words[(i >> 8) % 16]} ${words[p]} item${p}x${i}`;

async function storeConcurrently(procs: ServerProcess[], perProcess: number): Promise<string[]> {
  const ids: string[] = [];
  await Promise.all(
    procs.map(async (proc, p) => {
      for (let i = 0; i < perProcess; i++) {
        const id = `p${p}-m${i}`;
        const r = await proc.call('memory_store', { id, text: textOf(p, i) });
        assert.equal(r.isError, undefined, `store ${id}: ${JSON.stringify(r.content)}`);
        ids.push(id);
      }
    }),
  );
  return ids;
}

async function assertEveryProcessFindsAll(procs: ServerProcess[], processes: number, perProcess: number) {
  const all = Array.from({ length: processes }, (_, p) =>
    Array.from({ length: perProcess }, (_, i) => `p${p}-m${i}`),
  ).flat();
  for (const [n, proc] of procs.entries()) {
    for (let start = 0; start < all.length; start += 250) {
      const got = await callOk(proc, 'memory_get', { ids: all.slice(start, start + 250) });
      assert.deepEqual(got.missing, [], `process ${n} misses ids`);
    }
    // Search: every memory is the best match for its own text, from every process.
    const misses: string[] = [];
    for (let p = 0; p < processes; p++) {
      for (let i = 0; i < perProcess; i++) {
        const r = await proc.call('memory_search', { query: textOf(p, i), k: 1 });
        const top = output('memory_search', r).results[0]?.id;
        if (top !== `p${p}-m${i}`) misses.push(`p${p}-m${i} -> ${top}`);
      }
    }
    assert.deepEqual(misses.slice(0, 5), [], `process ${n}: ${misses.length} memories not found by search`);
  }
}

describe('several server processes on one store', () => {
  it(
    'three processes on one data directory keep all 900 writes, all find all of them, and the snapshot matches after a restart',
    { timeout: 300_000 },
    async () => {
      const dir = tempDir();
      const env = { MEMORY_INDEX_PERSIST_DELAY_MS: '50' };
      const procs = await Promise.all([0, 1, 2].map(() => spawnServer(dir.path, env)));
      try {
        const ids = await storeConcurrently(procs, 300);
        assert.equal(ids.length, 900);
        await assertEveryProcessFindsAll(procs, 3, 300);
      } finally {
        await Promise.all(procs.map((p) => p.close()));
      }
      const again = await spawnServer(dir.path);
      try {
        const found = await again.call('memory_search', { query: textOf(2, 299), k: 1 });
        assert.equal(output('memory_search', found).results[0]?.id, 'p2-m299');
        const s = await statusOf(again);
        assert.equal(s.store.total, 900);
        assert.equal(s.index.live, 900, 'index agrees with the store');
        assert.equal(
          s.index.last_open?.source,
          'snapshot',
          `the snapshot on disk matched the store (${s.index.last_open?.reason ?? ''})`,
        );
      } finally {
        await again.close();
        dir.cleanup();
      }
    },
  );

  describe('on one FalkorDB', () => {
    let server: FalkorServer;
    before(async () => {
      server = await startFalkorDB();
    });
    after(async () => {
      await server.stop();
    });

    it(
      'two processes (separate data directories, as on two machines) keep and find all 400 writes',
      { timeout: 300_000 },
      async () => {
        const graph = uniqueGraph('multi');
        const dirs = [tempDir(), tempDir()];
        const env = { FALKORDB_URL: server.url, FALKORDB_GRAPH: graph, BACKFILL_INTERVAL_MS: '0' };
        const procs = await Promise.all(dirs.map((d) => spawnServer(d.path, env)));
        try {
          await storeConcurrently(procs, 200);
          await assertEveryProcessFindsAll(procs, 2, 200);
        } finally {
          await Promise.all(procs.map((p) => p.close()));
          for (const d of dirs) d.cleanup();
        }
      },
    );
  });
});
