// The listing of nodes written by other tools on a real FalkorDB: with BACKFILL_LABELS it scans
// only the named labels' nodes (one label scan each), not every node of the graph; below a
// backfill run's cursor it seeks windows of node ids.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FalkorDB } from 'falkordb';
import { silentLogger } from '../src/shared/logger.js';
import { FalkorDBStore } from '../src/store/falkordb/falkordb-store.js';
import { startFalkorDB, uniqueGraph, type FalkorServer } from './helpers/falkordb.js';

describe('backfill labels on FalkorDB', () => {
  let server: FalkorServer;
  let db: FalkorDB;
  before(async () => {
    server = await startFalkorDB();
    db = await FalkorDB.connect({ url: server.url });
    db.on('error', () => undefined);
  });
  after(async () => {
    await db.close();
    await server.stop();
  });

  it('lists the named labels by label scan, each node once, and nothing of other labels', async () => {
    const kb = uniqueGraph('kbl');
    const home = uniqueGraph('homel');
    await db.selectGraph(kb).query(
      `CREATE (:Doc {text: 'doc one'}), (:Doc {text: 'doc two'}), (:Note {text: 'note one'}),
                (:Doc:Note {text: 'both'}), (:Other {text: 'other one'}), (:Other {text: 'other two'})`,
    );
    const store = new FalkorDBStore({
      url: server.url,
      graph: home,
      label: 'Memory',
      logger: silentLogger,
      backfillGraphs: [kb],
      backfillLabels: ['Doc', 'Note'],
    });
    await store.open();
    try {
      const texts = async (scope = {}) =>
        (await store.listNeedingEmbedding('fp', 100, scope)).records.map((r) => r.text).sort();
      assert.deepEqual(await texts(), ['both', 'doc one', 'doc two', 'note one']);
      assert.deepEqual(await texts({ label: 'Note' }), ['both', 'note one']);
      assert.deepEqual(await texts({ label: 'Other' }), [], 'a label outside BACKFILL_LABELS is not embedded');
      const ids = (await store.listNeedingEmbedding('fp', 100)).records.map((r) => r.id);
      assert.equal(new Set(ids).size, 4, 'the node with both labels is listed once');
      assert.equal((await store.listNeedingEmbedding('fp', 2)).records.length, 2, 'the limit holds across labels');

      const queries = store.foreign.listingQueries(false, {});
      assert.equal(queries.length, 2);
      for (const query of queries) {
        const plan = (await db.selectGraph(kb).explain(query.replace(/\$\w+/g, '1'))) as unknown;
        const text = JSON.stringify(plan);
        assert.match(text, /Node By Label Scan/, text);
        assert.doesNotMatch(text, /All Node Scan/, text);
      }
    } finally {
      await store.close();
    }
  });

  it('lists below a cursor by seeking windows of node ids, down a sparse graph, and says when a graph is walked', async () => {
    const kb = uniqueGraph('kbw');
    const g = db.selectGraph(kb);
    // Low ids without text (another tool's entities), then 3,000 texts, then more entities.
    await g.query('UNWIND range(1, 5000) AS i CREATE (:Entity {name: toString(i)})');
    await g.query("UNWIND range(1, 3000) AS i CREATE (:Doc {text: 'doc ' + toString(i)})");
    await g.query('UNWIND range(1, 2000) AS i CREATE (:Entity {name: toString(i)})');
    for (const labels of [undefined, ['Doc']]) {
      const store = new FalkorDBStore({
        url: server.url,
        graph: uniqueGraph('homew'),
        label: 'Memory',
        logger: silentLogger,
        backfillGraphs: [kb],
        ...(labels ? { backfillLabels: labels } : {}),
      });
      await store.open();
      try {
        const all = (await store.listNeedingEmbedding('fp', 5000)).records;
        assert.equal(all.length, 3000);
        const nids = all.map((r) => r.origin!.nodeId);
        assert.deepEqual(
          nids,
          [...nids].sort((a, b) => b - a),
          'newest first',
        );
        // Page by page down the cursor, as a backfill run goes: every node once, in order.
        const seen: number[] = [];
        let cursor: number | undefined;
        let pages = 0;
        for (;;) {
          const page = await store.listNeedingEmbedding(
            'fp',
            700,
            {},
            cursor === undefined ? {} : { nodes: { [kb]: cursor } },
          );
          pages++;
          seen.push(...page.records.map((r) => r.origin!.nodeId));
          if (page.records.length < 700) {
            assert.deepEqual(page.walked, [kb], 'a short page walked the graph to its bottom');
            break;
          }
          assert.deepEqual(page.walked, []);
          cursor = Math.min(...page.records.map((r) => r.origin!.nodeId));
        }
        assert.deepEqual(seen, nids);
        assert.equal(pages, 5);
        const bottom = await store.listNeedingEmbedding('fp', 10, {}, { nodes: { [kb]: 0 } });
        assert.deepEqual(bottom.records, [], 'cursor 0: nothing left in that graph');
        // The window queries seek node ids; no query scans the whole graph.
        for (const query of store.foreign.listingQueries(false, {}, true)) {
          const text = JSON.stringify(await g.explain(query.replace(/\$\w+/g, '1')));
          assert.match(text, labels ? /Node By Label and ID Scan/ : /NodeByIdSeek/, text);
          assert.doesNotMatch(text, /All Node Scan|Node By Label Scan/, text);
        }
      } finally {
        await store.close();
      }
    }
  });
});
