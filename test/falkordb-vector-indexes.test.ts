// The FalkorDB vector indexes the server keeps for Cypher users, against a real FalkorDB: made
// before the first vector, kept while another model's vectors remain after a dimension change,
// recreated with the new dimension once none remain (never two dimensions under one index).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FalkorConnection } from '../src/store/falkordb/connection.js';
import { VectorIndexes } from '../src/store/falkordb/vector-indexes.js';
import { HashEmbeddingProvider } from '../src/embeddings/hash-provider.js';
import { silentLogger } from '../src/shared/logger.js';
import { startFalkorDB, uniqueGraph, type FalkorServer } from './helpers/falkordb.js';

describe('FalkorDB vector indexes', () => {
  let server: FalkorServer;
  let db: FalkorConnection;
  before(async () => {
    server = await startFalkorDB();
    db = new FalkorConnection({ url: server.url, timeoutMs: 10_000, logger: silentLogger, prepare: async () => {} });
    db.open();
  });
  after(async () => {
    await db.close();
    await server.stop();
  });

  it("answers Cypher's queryNodes with the true nearest neighbours (recall@10 >= 0.95 against exact search)", async () => {
    // FalkorDB's default search breadth (efRuntime 10) finds about 4 of the true 10 here.
    const graph = uniqueGraph('vixr');
    const indexes = new VectorIndexes(db, silentLogger);
    const embedder = new HashEmbeddingProvider();
    const words = ['alpha', 'beta', 'gamma', 'delta', 'omega', 'sigma', 'kappa', 'theta', 'lambda', 'zeta'];
    const text = (i: number) => `note ${i}: ${words.filter((_, w) => (i * 7 + w * 3) % 11 < 4).join(' ')} ${i % 97}`;
    const vectors = await embedder.embed(Array.from({ length: 3000 }, (_, i) => text(i)));
    await indexes.ensure(graph, 'Doc', 'embedding', embedder.dimension, embedder.fingerprint);
    for (let b = 0; b < vectors.length; b += 500) {
      await db.run(graph, 'UNWIND $items AS item CREATE (:Doc {i: item.i, embedding: vecf32(item.v)})', {
        items: vectors.slice(b, b + 500).map((v, j) => ({ i: b + j, v: [...v] })),
      });
    }
    const queries = await embedder.embed(Array.from({ length: 50 }, (_, i) => text(5000 + i)));
    let found = 0;
    for (const query of queries) {
      const exact = vectors
        .map((v, i) => ({ i, s: v.reduce((sum, x, d) => sum + x * query[d]!, 0) }))
        .sort((a, b) => b.s - a.s)
        .slice(0, 10)
        .map((h) => h.i);
      const rows = await db.run<{ i: number }>(
        graph,
        "CALL db.idx.vector.queryNodes('Doc', 'embedding', 10, vecf32($v)) YIELD node RETURN node.i AS i",
        { v: [...query] },
        'read',
      );
      const got = new Set(rows.map((r) => r.i));
      found += exact.filter((i) => got.has(i)).length;
    }
    const recall = found / (queries.length * 10);
    assert.ok(recall >= 0.95, `recall@10 ${recall}`);
  });

  it('makes the index, waits out a dimension change, then recreates it with the new dimension', async () => {
    const graph = uniqueGraph('vix');
    const indexes = new VectorIndexes(db, silentLogger);
    const write = (id: number, vector: number[], fp: string) =>
      db.run(graph, 'MERGE (n:Doc {id: $id}) SET n.embedding = vecf32($v), n.embedding_fingerprint = $fp', {
        id,
        v: vector,
        fp,
      });
    const nearest = async (vector: number[]) =>
      db.run<{ id: number }>(
        graph,
        "CALL db.idx.vector.queryNodes('Doc', 'embedding', 1, vecf32($v)) YIELD node RETURN node.id AS id",
        { v: vector },
        'read',
      );
    await indexes.ensure(graph, 'Doc', 'embedding', 3, 'model-a');
    await write(1, [1, 0, 0], 'model-a');
    await write(2, [0, 1, 0], 'model-a');
    assert.deepEqual(await nearest([0, 1, 0]), [{ id: 2 }]);
    let [state] = await indexes.list();
    assert.equal(state?.state, 'ready');
    assert.equal(state?.dimension, 3);

    // Model B writes 4 dimensions: the old index stays while model A's vectors remain.
    await indexes.ensure(graph, 'Doc', 'embedding', 4, 'model-b');
    await write(1, [1, 0, 0, 0], 'model-b');
    [state] = await indexes.list();
    assert.equal(state?.state, 'waiting_for_reembedding');
    assert.equal(state?.dimension, 3);
    assert.match(state?.detail ?? '', /^1 nodes still hold another model's vector/);
    assert.deepEqual(await nearest([0, 1, 0]), [{ id: 2 }], 'Cypher still finds the old model nodes');

    await write(2, [0, 1, 0, 0], 'model-b');
    [state] = await indexes.list();
    assert.equal(state?.state, 'ready');
    assert.equal(state?.dimension, 4);
    // FalkorDB fills an index made over existing nodes in the background.
    for (const deadline = Date.now() + 10_000; state?.indexed !== 2 && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 50));
      [state] = await indexes.list();
    }
    assert.equal(state?.indexed, 2);
    assert.deepEqual(await nearest([0, 1, 0, 0]), [{ id: 2 }]);
  });
});
