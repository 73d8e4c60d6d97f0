// MEMORY_SEARCH_INDEX=falkordb against a real FalkorDB: search served by FalkorDB's vector
// indexes, no index in the process, no snapshot. Two instances on one FalkorDB find each other's
// writes at once; results and scores equal those of the FAISS mode on the same memories; a filter
// never hides a match; backfilled nodes of other tools are found; health and repair see a
// dropped index.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FalkorDB } from 'falkordb';
import { createApp } from '../src/app.js';
import { silentLogger } from '../src/shared/logger.js';
import { startFalkorDB, uniqueGraph, type FalkorServer } from './helpers/falkordb.js';
import { startHarness, testConfig, textOf, type Harness } from './helpers/harness.js';
import { tempDir } from './helpers/tmp.js';
import { callOk } from './helpers/tool-call.js';

describe('search served by FalkorDB (MEMORY_SEARCH_INDEX=falkordb)', () => {
  let server: FalkorServer;
  let db: FalkorDB;
  const dirs: ReturnType<typeof tempDir>[] = [];
  const harnesses: Harness[] = [];
  before(async () => {
    server = await startFalkorDB();
    db = await FalkorDB.connect({ url: server.url });
    db.on('error', () => undefined);
  });
  after(async () => {
    for (const h of harnesses) await h.close();
    for (const d of dirs) d.cleanup();
    await db.close();
    await server.stop();
  });

  const start = async (graph: string, env: Record<string, string> = {}) => {
    const dir = tempDir();
    dirs.push(dir);
    const h = await startHarness(
      testConfig(dir.path, {
        FALKORDB_URL: server.url,
        FALKORDB_GRAPH: graph,
        MEMORY_SEARCH_INDEX: 'falkordb',
        BACKFILL_INTERVAL_MS: '0',
        BACKFILL_GRAPHS: graph, // other tests' graphs stay out of the counts
        ...env,
      }),
    );
    harnesses.push(h);
    await h.app.service.ready();
    return { h, dir: dir.path };
  };
  const ids = async (h: Harness, query: string, extra: Record<string, unknown> = {}) =>
    (await callOk(h, 'memory_search', { query, mode: 'semantic', ...extra })).results.map((r) => r.id);

  it('two instances on one FalkorDB find each other’s writes at once, and keep nothing locally', async () => {
    const graph = uniqueGraph('fleet');
    const a = await start(graph);
    const b = await start(graph);
    await callOk(a.h, 'memory_store', { items: [{ id: 'm1', text: 'the staging database runs on hopper-7' }] });
    assert.deepEqual(await ids(b.h, 'staging database hopper', { k: 1 }), ['m1'], 'B finds what A stored');
    await callOk(b.h, 'memory_store', { items: [{ id: 'm2', text: 'lunch is served at noon on the terrace' }] });
    assert.deepEqual(await ids(a.h, 'lunch on the terrace', { k: 1 }), ['m2'], 'A finds what B stored');
    await callOk(b.h, 'memory_update', { id: 'm1', text: 'the staging database moved to kepler-3' });
    const moved = await callOk(a.h, 'memory_search', { query: 'staging database kepler', mode: 'semantic', k: 1 });
    assert.equal(moved.results[0]?.id, 'm1');
    assert.match(moved.results[0]!.text, /kepler-3/, 'A sees B’s edit');
    await callOk(a.h, 'memory_delete', { id: 'm2' });
    assert.ok(!(await ids(b.h, 'lunch on the terrace')).includes('m2'), 'B no longer finds what A deleted');

    const health = await callOk(b.h, 'index_health', {});
    assert.equal(health.index?.type, 'HNSW');
    assert.equal(health.index?.snapshot_path, null);
    assert.equal(health.index?.memory_bytes, 0);
    assert.equal(health.index?.live, 1);
    assert.equal(health.index?.missing_count, 0);
    assert.equal(health.status, 'ok', JSON.stringify(health.reasons));
    assert.equal(health.recall?.recall_at_10, 1);
    for (const h of [a.h, b.h]) await h.app.service.openIndex!.persist({ force: true });
    for (const dir of [a.dir, b.dir]) {
      const index = join(dir, 'index');
      const files = existsSync(index) ? readdirSync(index, { recursive: true }) : [];
      assert.deepEqual(files, [], 'no snapshot, no index folder content');
    }
  });

  it('answers with the same memories and scores as the FAISS index on the same store', async () => {
    const graph = uniqueGraph('same');
    const fleet = await start(graph);
    const words = ['river', 'mountain', 'invoice', 'compiler', 'garden', 'violin', 'harbor', 'glacier', 'ledger'];
    const items = Array.from({ length: 60 }, (_, i) => ({
      id: `s${i}`,
      text: `${words[i % 9]} ${words[(i * 4) % 9]} ${words[(i * 7 + 2) % 9]} note ${i}`,
    }));
    await callOk(fleet.h, 'memory_store', { items });
    const local = await start(graph, { MEMORY_SEARCH_INDEX: 'faiss' });
    for (const query of ['river and glacier', 'compiler ledger invoice', 'violin in the garden']) {
      const got = (await callOk(fleet.h, 'memory_search', { query, mode: 'semantic', k: 8 })).results;
      const want = (await callOk(local.h, 'memory_search', { query, mode: 'semantic', k: 60 })).results;
      assert.equal(got.length, 8, query);
      assert.equal(new Set(got.map((r) => r.id)).size, 8, `${query}: no id twice`);
      got.forEach((r, i) => {
        assert.ok(Math.abs(r.score - want[i]!.score) < 1e-4, `${query}: score at rank ${i + 1}`);
        // Memories with the same words tie; within a tie the order is either index's own.
        const tied = want.filter((w) => Math.abs(w.score - r.score) < 1e-4).map((w) => w.id);
        assert.ok(tied.includes(r.id), `${query}: ${r.id} at rank ${i + 1} is among ${tied.join(', ')}`);
      });
    }
  });

  it('a filter never hides a match: closer memories outside it are skipped, widening as needed', async () => {
    const graph = uniqueGraph('filter');
    const { h } = await start(graph);
    const crowd = Array.from({ length: 300 }, (_, i) => ({
      text: `the quarterly revenue report for the north region ${i}`,
      namespace: 'crowd',
    }));
    await callOk(h, 'memory_store', { items: crowd.slice(0, 100) });
    await callOk(h, 'memory_store', { items: crowd.slice(100, 200) });
    await callOk(h, 'memory_store', { items: crowd.slice(200) });
    await callOk(h, 'memory_store', { items: [{ id: 'lone', text: 'revenue of the garden shop', namespace: 'shop' }] });
    assert.deepEqual(await ids(h, 'the quarterly revenue report for the north region', { namespace: 'shop' }), [
      'lone',
    ]);
  });

  it('finds backfilled nodes of other tools, and the seed’s Cypher query answers on them', async () => {
    const home = uniqueGraph('home');
    const kb = uniqueGraph('kb');
    const g = db.selectGraph(kb);
    for (const t of ['the warehouse robot charges at dock four', 'invoices are paid on the first monday']) {
      await g.query('CREATE (:Doc {text: $t})', { params: { t } });
    }
    const { h } = await start(home, { BACKFILL_GRAPHS: `${home},${kb}` });
    for (let pass = 0; pass < 3; pass++) {
      // (A pass that wrote to every embedded node each time left FalkorDB's index crowded with
      // deleted entries, and the query below with k = 1 found nothing.)
      const run = await h.call('backfill_run', { wait: true });
      assert.equal(run.isError, undefined, textOf(run));
    }
    const found = await callOk(h, 'memory_search', { query: 'warehouse robot dock', mode: 'semantic', k: 1 });
    assert.equal(found.results[0]?.text, 'the warehouse robot charges at dock four');
    const rows = await g.query<{ text: string }>(
      "CALL db.idx.vector.queryNodes('Doc', 'embedding', 1, vecf32($v)) YIELD node RETURN node.text AS text",
      { params: { v: [...(await h.app.embedder.embed(['invoices paid monday']))[0]!] } },
    );
    assert.equal(rows.data?.[0]?.text, 'invoices are paid on the first monday');
  });

  it('health says when the vector index is gone; repair "sync" makes it again and search finds again', async () => {
    const graph = uniqueGraph('repair');
    const { h } = await start(graph);
    await callOk(h, 'memory_store', {
      items: Array.from({ length: 20 }, (_, i) => ({ text: `a note about lighthouses number ${i}` })),
    });
    await db.selectGraph(graph).query('DROP VECTOR INDEX FOR (n:Memory) ON (n.embedding)');
    const broken = await callOk(h, 'index_health', {});
    assert.notEqual(broken.status, 'ok');
    assert.equal(broken.index?.missing_count, 20);
    const semantic = await callOk(h, 'memory_search', { query: 'lighthouses', mode: 'semantic' });
    assert.equal(semantic.results.length, 0, 'nothing is findable by vector without the index');
    const repaired = await callOk(h, 'index_repair', { mode: 'sync' });
    assert.equal(repaired.before.missing, 20);
    assert.equal(repaired.after?.missing, 0);
    assert.equal((await callOk(h, 'index_health', {})).status, 'ok');
    assert.equal((await ids(h, 'lighthouses number 7', { k: 1 })).length, 1);
    const rebuilt = await callOk(h, 'index_repair', { mode: 'rebuild' });
    assert.equal(rebuilt.after?.missing, 0);
    assert.equal(rebuilt.after?.index_count, 20);
  });

  it('refuses MEMORY_SEARCH_INDEX=falkordb without FalkorDB, saying what to set', () => {
    const dir = tempDir();
    dirs.push(dir);
    assert.throws(
      () => createApp(testConfig(dir.path, { MEMORY_SEARCH_INDEX: 'falkordb' }), silentLogger),
      /MEMORY_SEARCH_INDEX=falkordb searches FalkorDB: set FALKORDB_URL/,
    );
  });
});
