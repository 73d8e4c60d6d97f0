// The disk failing under the server: health must say so (and since when), clear by itself when
// the cause goes away, and shutdown must not call an intact store a failure.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startHarness, testConfig, textOf } from './helpers/harness.js';
import { spawnServer } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';
import { callOk } from './helpers/tool-call.js';
import { waitFor } from './helpers/wait.js';

describe('disk failures', () => {
  it('store writes failing (database full) turn health failing with the error and since when; a good write clears it', async () => {
    const dir = tempDir();
    const h = await startHarness(testConfig(dir.path));
    try {
      await callOk(h, 'memory_store', { text: 'stored before the disk filled up' });
      // A real SQLite "database or disk is full": the database may not grow past its current size.
      const db = (h.app.store as unknown as { db: { pragma(s: string, o?: object): unknown } }).db;
      const pages = db.pragma('page_count', { simple: true }) as number;
      db.pragma(`max_page_count = ${pages}`);
      const failed = await h.call('memory_store', { text: 'x '.repeat(15_000) });
      assert.equal(failed.isError, true, textOf(failed));
      assert.match(textOf(failed), /STORE_FAILED/);
      const health = await callOk(h, 'index_health', {});
      assert.equal(health.status, 'failing');
      const reason = health.reasons.find((r) => r.code === 'store_write_failing');
      assert.ok(reason, JSON.stringify(health.reasons));
      assert.match(reason.message, /store writes fail since \d{4}-\d\d-\d\dT.* full/);

      db.pragma('max_page_count = 1073741823');
      await callOk(h, 'memory_store', { text: 'stored once there is room again' });
      const after = await callOk(h, 'index_health', {});
      assert.equal(
        after.reasons.find((r) => r.code === 'store_write_failing'),
        undefined,
        JSON.stringify(after.reasons),
      );
      assert.equal((await callOk(h, 'memory_list', {})).total, 2);
    } finally {
      await h.close();
      dir.cleanup();
    }
  });

  it('snapshot writes failing (index folder replaced by a file) turn health degraded since when; fixed, it clears', async () => {
    const dir = tempDir();
    const h = await startHarness(testConfig(dir.path, {}, ['--index-persist-delay-ms', '50']));
    try {
      await h.app.service.ready();
      await callOk(h, 'memory_store', { text: 'stored while the disk works' });
      const index = join(dir.path, 'index');
      await waitFor(() => readdirSync(index).some((f) => f.endsWith('.snapshot')), 10_000, 'a first snapshot');
      rmSync(index, { recursive: true, force: true });
      writeFileSync(index, 'not a folder');
      await callOk(h, 'memory_store', { text: 'stored while snapshots cannot be written' });
      const reason = await waitFor(
        async () => (await callOk(h, 'index_health', {})).reasons.find((r) => r.code === 'snapshot_write_failing'),
        10_000,
        'health to report the failing snapshot writes',
      );
      assert.ok(reason);
      assert.match(reason.message, /since \d{4}-\d\d-\d\dT/);
      assert.equal((await callOk(h, 'memory_search', { query: 'stored while' })).results.length, 2, 'search goes on');

      rmSync(index, { force: true });
      mkdirSync(index);
      await callOk(h, 'memory_store', { text: 'stored once the folder is back' });
      await waitFor(
        async () => !(await callOk(h, 'index_health', {})).reasons.some((r) => r.code === 'snapshot_write_failing'),
        10_000,
        'the reason to clear',
      );
    } finally {
      await h.close();
      dir.cleanup();
    }
  });

  it('an index folder replaced by a file: shutdown exits 0 with a warning, nothing lost', async () => {
    const dir = tempDir();
    const env = { MEMORY_INDEX_PERSIST_DELAY_MS: '0', EMBEDDING_PROVIDER: 'hash' };
    let p = await spawnServer(dir.path, env);
    try {
      await callOk(p, 'memory_store', { id: 'a', text: 'first memory' });
      // The index open first (a search waits for it): an open whose own snapshot write fails is another matter.
      await callOk(p, 'memory_search', { query: 'first' });
      rmSync(join(dir.path, 'index'), { recursive: true, force: true });
      writeFileSync(join(dir.path, 'index'), 'not a folder');
      await callOk(p, 'memory_store', { id: 'b', text: 'second memory' });
      await p.close();
      assert.equal(await p.exited, 0, p.stderr());
      assert.match(p.stderr(), /store is intact/);
    } finally {
      await p.close();
    }
    rmSync(join(dir.path, 'index'), { force: true });
    p = await spawnServer(dir.path, env);
    try {
      const got = await callOk(p, 'memory_get', { ids: ['a', 'b'] });
      assert.deepEqual(got.memories.map((m) => m.id).sort(), ['a', 'b']);
    } finally {
      await p.close();
      dir.cleanup();
    }
  });
});
