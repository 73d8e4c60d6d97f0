// `vector-memory-mcp backfill --once` as a separate process: killed mid-run, it resumes without
// redoing finished records; its exit status says whether records failed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { FakeOpenAI } from './helpers/fake-openai.js';
import { tempDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

const cli = join(fileURLToPath(new URL('..', import.meta.url)), 'dist', 'cli.js');
const N = 200;

function backfill(dataDir: string, api: FakeOpenAI, extra: string[] = []) {
  const child = spawn(process.execPath, [cli, 'backfill', '--once', '--data-dir', dataDir, ...extra], {
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: dataDir,
      ...api.env(16),
      BACKFILL_BATCH_SIZE: '10',
      BACKFILL_CONCURRENCY: '1',
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
    const requestsBefore = api.requests.length;

    api.delayMs = 0;
    const second = backfill(dir.path, api);
    const { code } = await second.exited;
    assert.equal(code, 0, second.err());
    const summary = JSON.parse(second.out().trim().split('\n').pop()!) as {
      outcome: string;
      embedded: number;
      failed: number;
    };
    assert.equal(summary.outcome, 'completed');
    assert.equal(summary.embedded, N - doneBefore.size, 'the second run embedded exactly what was left');
    const redone = api.requests
      .slice(requestsBefore)
      .flatMap((r) => r.input)
      .filter((t) => doneBefore.has(t));
    assert.deepEqual(redone, [], 'no finished record was embedded again');
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
