// `vector-memory-mcp backfill --once` as a separate process: killed mid-run (on SQLite, and on
// FalkorDB nodes of another tool, batches of one UNWIND each), it resumes without redoing
// finished records; its exit status says whether records failed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FalkorDB } from 'falkordb';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { startFalkorDB, uniqueGraph, type FalkorServer } from './helpers/falkordb.js';
import { FakeOpenAI } from './helpers/fake-openai.js';
import { tempDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

const cli = join(fileURLToPath(new URL('..', import.meta.url)), 'dist', 'cli.js');
const N = 200;

function backfill(dataDir: string, api: FakeOpenAI, extra: string[] = [], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [cli, 'backfill', '--once', '--data-dir', dataDir, ...extra], {
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: dataDir,
      ...api.env(16),
      BACKFILL_BATCH_SIZE: '10',
      BACKFILL_CONCURRENCY: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, out: () => stdout, err: () => stderr };
}

/** A second run after the kill: completes, embedding exactly what was left and none of `doneBefore` again. */
async function resumesWhereItStopped(
  api: FakeOpenAI,
  doneBefore: Set<string>,
  start: () => ReturnType<typeof backfill>,
): Promise<void> {
  const requestsBefore = api.requests.length;
  api.delayMs = 0;
  const second = start();
  assert.equal((await second.exited).code, 0, second.err());
  const summary = JSON.parse(second.out().trim().split('\n').pop()!) as { outcome: string; embedded: number };
  assert.equal(summary.outcome, 'completed');
  assert.equal(summary.embedded, N - doneBefore.size, 'the second run embedded exactly what was left');
  const redone = api.requests
    .slice(requestsBefore)
    .flatMap((r) => r.input)
    .filter((t) => doneBefore.has(t));
  assert.deepEqual(redone, [], 'no finished record was embedded again');
}

describe('backfill from the command line', () => {
  let api: FakeOpenAI;
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  before(async () => {
    api = await new FakeOpenAI().start();
    api.defaultDimension = 16;
    dir = tempDir();
    store = new SqliteStore(join(dir.path, 'memories.db'));
    await store.open();
    await store.upsert(
      Array.from({ length: N }, (_, i) => ({
        id: `m${i}`,
        namespace: 'default',
        text: `pending memory number ${i}`,
        metadata: {},
        tags: [],
        embedding: null,
      })),
    );
  });
  after(async () => {
    await store.close();
    await api.stop();
    dir.cleanup();
  });

  it('resumes after SIGKILL without redoing finished records', async () => {
    api.delayMs = 60;
    const first = backfill(dir.path, api);
    await waitFor(async () => (await store.stats()).done >= 50, 30_000, 'the first run to embed 50 records');
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    assert.equal(killed.signal, 'SIGKILL');
    const doneBefore = new Set(
      (await store.embeddedIds('openai:text-embedding-3-small:16')).map((id) => `pending memory number ${id.slice(1)}`),
    );
    assert.ok(doneBefore.size >= 50 && doneBefore.size < N, `killed mid-run (${doneBefore.size} done)`);
    await resumesWhereItStopped(api, doneBefore, () => backfill(dir.path, api));
    const stats = await store.stats();
    assert.equal(stats.done, N);
    assert.equal(stats.pending, 0);
  });

  it('exits 1 when records failed, naming them, and 0 once nothing is left', async () => {
    api.maxInputChars = 60;
    await store.upsert([
      { id: 'long', namespace: 'default', text: 'x'.repeat(100), metadata: {}, tags: [], embedding: null },
    ]);
    const run = backfill(dir.path, api);
    const { code } = await run.exited;
    assert.equal(code, 1);
    const summary = JSON.parse(run.out().trim().split('\n').pop()!) as { failed: number };
    assert.equal(summary.failed, 1);
    assert.match(run.err(), /backfill run ended/);
    const again = backfill(dir.path, api);
    assert.equal((await again.exited).code, 0, 'a failed record is not retried until it or the model changes');
  });
});

describe('backfill from the command line, FalkorDB nodes of another tool', () => {
  let api: FakeOpenAI;
  let server: FalkorServer;
  let db: FalkorDB;
  let dir: ReturnType<typeof tempDir>;
  before(async () => {
    api = await new FakeOpenAI().start();
    api.defaultDimension = 16;
    server = await startFalkorDB();
    db = await FalkorDB.connect({ url: server.url });
    db.on('error', () => undefined);
    dir = tempDir();
  });
  after(async () => {
    await db.close();
    await server.stop();
    await api.stop();
    dir.cleanup();
  });

  it('resumes after SIGKILL mid-batch: every node embedded once, one reference each, no number reused', async () => {
    const kb = uniqueGraph('kbkill');
    const home = uniqueGraph('homekill');
    const g = db.selectGraph(kb);
    await g.query("UNWIND range(0, $n - 1) AS i CREATE (:Doc {text: 'node of another tool ' + toString(i)})", {
      params: { n: N },
    });
    const env = { FALKORDB_URL: server.url, FALKORDB_GRAPH: home, BACKFILL_GRAPHS: kb };
    const embedded = async () =>
      (await g.query<{ n: number }>('MATCH (n:Doc) WHERE n.embedding IS NOT NULL RETURN count(n) AS n')).data![0]!.n;
    api.delayMs = 60;
    const first = backfill(dir.path, api, [], env);
    await waitFor(async () => (await embedded()) >= 50, 30_000, 'the first run to embed 50 nodes');
    first.child.kill('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');
    const doneBefore = new Set(
      (await g.query<{ t: string }>('MATCH (n:Doc) WHERE n.embedding IS NOT NULL RETURN n.text AS t')).data!.map(
        (r) => r.t,
      ),
    );
    assert.ok(doneBefore.size >= 50 && doneBefore.size < N, `killed mid-run (${doneBefore.size} done)`);
    await resumesWhereItStopped(api, doneBefore, () => backfill(dir.path, api, [], env));
    assert.equal(await embedded(), N);
    const nodes = (await g.query<{ id: string; nid: number }>('MATCH (n:Doc) RETURN n.memory_id AS id, ID(n) AS nid'))
      .data!;
    const refs = (
      await db
        .selectGraph(home)
        .query<{ id: string; nid: number; seq: number }>(
          'MATCH (r:VmmRef) RETURN r.memory_id AS id, r.node_id AS nid, r.seq AS seq',
        )
    ).data!;
    assert.equal(refs.length, N, 'one reference per node (a node written before the kill is adopted, not lost)');
    assert.equal(new Set(refs.map((r) => r.seq)).size, N, 'no sequence number taken twice');
    const byId = new Map(nodes.map((n) => [n.id, n.nid]));
    for (const r of refs) assert.equal(byId.get(r.id), r.nid, `reference ${r.id} points at its node`);
  });
});
