// The backfill against a real FalkorDB, with nodes written by "another tool" (raw Cypher here)
// and the real openai client talking to a local server that speaks the embeddings API.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { FalkorDB } from 'falkordb';
import { HashEmbeddingProvider } from '../src/embeddings/hash-provider.js';
import { FakeOpenAI } from './helpers/fake-openai.js';
import { startFalkorDB, uniqueGraph, type FalkorServer } from './helpers/falkordb.js';
import { startHarness, testConfig, textOf, type Harness } from './helpers/harness.js';
import { tempDir } from './helpers/tmp.js';
import { callOk, output } from './helpers/tool-call.js';

const DIM = 32;
const FP = `openai:text-embedding-3-small:${DIM}`;

describe('backfill on FalkorDB', () => {
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

  let api: FakeOpenAI;
  let dir: ReturnType<typeof tempDir>;
  let h: Harness | undefined;
  let home: string;
  let kb: string;
  beforeEach(async () => {
    api = await new FakeOpenAI().start();
    api.defaultDimension = DIM;
    dir = tempDir();
    home = uniqueGraph('home');
    kb = uniqueGraph('kb');
  });
  afterEach(async () => {
    await h?.close();
    h = undefined;
    await api.stop();
    dir.cleanup();
    assert.deepEqual(api.unexpected, []);
  });

  const start = async (extra: Record<string, string> = {}) => {
    h = await startHarness(
      testConfig(dir.path, {
        FALKORDB_URL: server.url,
        FALKORDB_GRAPH: home,
        BACKFILL_GRAPHS: `${home},${kb}`,
        BACKFILL_INTERVAL_MS: '0',
        BACKFILL_BATCH_SIZE: '4',
        ...api.env(DIM, { EMBEDDING_MAX_RETRIES: '2' }),
        ...extra,
      }),
    );
    await h.app.service.ready();
    return h;
  };
  const status = () => callOk(h!, 'backfill_status', {});
  const runAndWait = async (args: Record<string, unknown> = {}) => {
    const r = await h!.call('backfill_run', { ...args, wait: true });
    assert.equal(r.isError, undefined, textOf(r));
    return output('backfill_run', r);
  };
  const topHit = async (query: string, namespace?: string) => {
    const r = await h!.call('memory_search', { query, k: 1, ...(namespace ? { namespace } : {}) });
    return output('memory_search', r).results[0];
  };

  it('embeds nodes written with raw Cypher (several labels), skips those already embedded, and makes all searchable', async () => {
    const embedder = new HashEmbeddingProvider({ dimension: DIM });
    const pre = ['a note that was embedded before', 'another document embedded earlier'];
    const docs = [
      'quarterly revenue grew in the north region',
      'the deploy pipeline runs nightly',
      'office plants need water on fridays',
      'the API rate limit is 600 per minute',
      'holiday schedule for december',
    ];
    const notes = ['remember to renew the TLS certificate', 'standup moved to 9:30'];
    const g = db.selectGraph(kb);
    for (const t of docs) await g.query('CREATE (:Doc {text: $t})', { params: { t } });
    for (const t of notes) await g.query('CREATE (:Note {text: $t})', { params: { t } });
    await g.query("CREATE (:Doc:Note {text: 'a node with two labels about onboarding'})");
    await g.query("CREATE (:Person {name: 'Ada'}), (:Person {name: 'Grace'}), (:Doc {text: ''}), (:Doc {text: 42})");
    for (const t of pre) {
      await g.query('CREATE (:Doc {text: $t, embedding: vecf32($v), embedding_fingerprint: $fp})', {
        params: { t, v: [...embedder.embedOne(t)], fp: FP },
      });
    }
    await start();
    await h!.call('memory_store', { id: 'own-1', text: 'my own memory about the roadmap' });

    // The server also starts a run by itself at startup; backfill_run joins or follows it.
    const { run } = await runAndWait();
    assert.ok(['completed'].includes(run.outcome), run.error ?? '');

    const embedded = api.requests.flatMap((r) => r.input);
    const expected = [...docs, ...notes, 'a node with two labels about onboarding'];
    for (const t of expected)
      assert.equal(embedded.filter((x) => x === t).length, 1, `"${t}" was embedded exactly once`);
    for (const t of pre) assert.ok(!embedded.includes(t), `"${t}" already had an embedding and was not re-embedded`);
    assert.equal(
      embedded.filter((t) => t === 'my own memory about the roadmap').length,
      1,
      'embedded once, when stored',
    );

    for (const t of [...expected, ...pre]) {
      const hit = await topHit(t, kb);
      assert.equal(hit?.text, t, `"${t}" is searchable`);
    }
    assert.equal((await topHit('my own memory about the roadmap'))?.id, 'own-1');

    // The Cypher flow of the original design: FalkorDB's own vector search on the backfilled
    // nodes (it fails when no vector index exists) and on the server's own memories.
    const cypher = async (graph: string, label: string, text: string) =>
      (
        await db.selectGraph(graph).query<{ text: string; score: number }>(
          `CALL db.idx.vector.queryNodes('${label}', 'embedding', 3, vecf32($v)) YIELD node, score
           RETURN node.text AS text, score ORDER BY score`,
          { params: { v: [...embedder.embedOne(text)] } },
        )
      ).data ?? [];
    for (const t of [docs[1]!, pre[0]!]) assert.equal((await cypher(kb, 'Doc', t))[0]?.text, t, `Cypher finds "${t}"`);
    assert.equal((await cypher(kb, 'Note', notes[0]!))[0]?.text, notes[0]);
    assert.equal(
      (await cypher(home, 'Memory', 'my own memory about the roadmap'))[0]?.text,
      'my own memory about the roadmap',
    );
    const health = await callOk(h!, 'index_health', {});
    const indexes = health.vector_indexes ?? [];
    for (const [graph, label] of [
      [kb, 'Doc'],
      [kb, 'Note'],
      [home, 'Memory'],
    ] as const) {
      const ix = indexes.find((x) => x.graph === graph && x.label === label);
      assert.equal(ix?.state, 'ready', `${graph} ${label}: ${JSON.stringify(indexes)}`);
      assert.equal(ix?.dimension, DIM);
    }

    const s = await status();
    assert.equal(s.counts.pending, 0);
    assert.equal(s.counts.failed, 0);
    const kbRows = (s.counts.by_graph_label ?? []).filter((r) => r.graph === kb);
    assert.equal(
      kbRows.reduce((a, r) => a + r.done, 0),
      expected.length + pre.length,
    );
    assert.ok(kbRows.some((r) => r.label === 'Note'));

    // The vectors were written back to the nodes, with a stable memory id.
    const written = await g.roQuery<{ n: number }>(
      'MATCH (n) WHERE n.text IS NOT NULL AND n.embedding IS NOT NULL AND n.memory_id IS NOT NULL AND n.embedding_fingerprint = $fp RETURN count(n) AS n',
      { params: { fp: FP } },
    );
    assert.equal(written.data?.[0]?.n, expected.length + pre.length);
    const people = await g.roQuery<{ n: number }>(
      'MATCH (p:Person) WHERE p.embedding IS NULL AND p.memory_id IS NULL RETURN count(p) AS n',
    );
    assert.equal(people.data?.[0]?.n, 2, 'nodes without text are left alone');

    // Found, fetched and deleted through the tools.
    const hit = await topHit('the deploy pipeline runs nightly', kb);
    const got = await callOk(h!, 'memory_get', { id: hit!.id });
    assert.equal(got.memories[0]!.text, 'the deploy pipeline runs nightly');
    assert.deepEqual(got.memories[0]!.tags, ['Doc']);
    const del = await h!.call('memory_delete', { id: hit!.id });
    assert.equal(del.isError, undefined, textOf(del));
    const gone = await g.roQuery<{ n: number }>(
      "MATCH (n {text: 'the deploy pipeline runs nightly'}) RETURN count(n) AS n",
    );
    assert.equal(gone.data?.[0]?.n, 0, 'the node itself was deleted');
    assert.notEqual((await topHit('the deploy pipeline runs nightly', kb))?.text, 'the deploy pipeline runs nightly');

    // A second run has nothing to do.
    const again = await runAndWait();
    assert.equal(again.run.embedded, 0);

    // Dropped by hand: health says so, and the next vector written there makes it again.
    await db.selectGraph(kb).query('DROP VECTOR INDEX FOR (n:Note) ON (n.embedding)');
    const dropped = await callOk(h!, 'index_health', {});
    assert.ok(
      dropped.reasons.some((r) => r.code === 'vector_index_unusable'),
      JSON.stringify(dropped.reasons),
    );
    await db.selectGraph(kb).query("CREATE (:Note {text: 'a note written after the index was dropped'})");
    await runAndWait();
    assert.equal(
      (await cypher(kb, 'Note', 'a note written after the index was dropped'))[0]?.text,
      'a note written after the index was dropped',
    );
    assert.ok(!(await callOk(h!, 'index_health', {})).reasons.some((r) => r.code === 'vector_index_unusable'));
  });

  it('reports provider failures right and loses nothing: 429 then success, a too-long input, then 401', async () => {
    const g = db.selectGraph(kb);
    for (let i = 0; i < 10; i++)
      await g.query('CREATE (:Doc {text: $t})', { params: { t: `short document number ${i}` } });
    await g.query('CREATE (:Doc {text: $t})', { params: { t: 'this one is far too long '.repeat(20) } });
    await start();
    api.maxInputChars = 200;
    api.script.push({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const { run } = await runAndWait();
    assert.equal(run.outcome, 'completed', run.error ?? '');
    assert.equal(run.embedded, 10);
    assert.equal(run.failed, 1);
    let s = await status();
    assert.equal(s.counts.done, 10);
    assert.equal(s.counts.failed, 1);
    assert.equal(s.counts.pending, 0);
    assert.equal(s.recent_failures.length, 1);
    assert.equal(s.recent_failures[0]!.permanent, true);
    assert.match(s.recent_failures[0]!.error, /400.*context length/);
    const failedNode = await g.roQuery<{ status: string; error: string }>(
      "MATCH (n:Doc) WHERE n.text STARTS WITH 'this one' RETURN n.embedding_status AS status, n.embedding_error AS error",
    );
    assert.equal(failedNode.data?.[0]?.status, 'failed');
    assert.match(failedNode.data?.[0]?.error ?? '', /400/);

    // A bad key stops the run with the reason; the new records stay pending, none marked failed.
    for (let i = 0; i < 3; i++) await g.query('CREATE (:Note {text: $t})', { params: { t: `late note ${i}` } });
    api.script.push({ kind: 'status', status: 401 });
    const denied = await runAndWait();
    assert.equal(denied.run.outcome, 'failed');
    assert.match(denied.run.error ?? '', /401/);
    s = await status();
    assert.equal(s.counts.pending, 3);
    assert.equal(s.counts.failed, 1);
    assert.equal(s.last?.outcome, 'failed');
    // Once the provider accepts the key again, the next run embeds them.
    const fixed = await runAndWait();
    assert.equal(fixed.run.embedded, 3);
    assert.equal((await status()).counts.pending, 0);
  });

  it('keeps memories stored while the provider is down as pending, and embeds them once it is back', async () => {
    await start();
    for (let i = 0; i < 3; i++) api.script.push({ kind: 'status', status: 503 });
    const r = await h!.call('memory_store', { id: 'during-outage', text: 'written while the provider was down' });
    assert.match(textOf(r), /not searchable by meaning yet/);
    assert.equal((await status()).counts.pending, 1);
    const { run } = await runAndWait();
    assert.equal(run.embedded, 1);
    assert.equal((await topHit('written while the provider was down'))?.id, 'during-outage');
  });

  it('scopes runs by graph and label, and refuses graph on SQLite', async () => {
    const g = db.selectGraph(kb);
    await g.query("CREATE (:Doc {text: 'doc alpha'}), (:Note {text: 'note beta'})");
    await start();
    const { run } = await runAndWait({ graph: kb, label: 'Note' });
    assert.equal(run.embedded, 1);
    const s = await status();
    const doc = s.counts.by_graph_label?.find((c) => c.graph === kb && c.label === 'Doc');
    assert.equal(doc?.pending, 1, 'the Doc node was outside the scope');
  });
});
