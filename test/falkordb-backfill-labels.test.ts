// BACKFILL_LABELS on a real FalkorDB: the listing of nodes written by other tools scans only the
// named labels' nodes (one label scan each), not every node of the graph.
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
        (await store.listNeedingEmbedding('fp', 100, scope)).map((r) => r.text).sort();
      assert.deepEqual(await texts(), ['both', 'doc one', 'doc two', 'note one']);
      assert.deepEqual(await texts({ label: 'Note' }), ['both', 'note one']);
      assert.deepEqual(await texts({ label: 'Other' }), [], 'a label outside BACKFILL_LABELS is not embedded');
      const ids = (await store.listNeedingEmbedding('fp', 100)).map((r) => r.id);
      assert.equal(new Set(ids).size, 4, 'the node with both labels is listed once');
      assert.equal((await store.listNeedingEmbedding('fp', 2)).length, 2, 'the limit holds across labels');

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
});
