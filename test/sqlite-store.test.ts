import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { storeContract } from './helpers/store-contract.js';
import { tempDir } from './helpers/tmp.js';

storeContract('sqlite', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'nested', 'memories.db');
  let store = new SqliteStore(path);
  await store.open();
  return {
    store,
    async reopen() {
      await store.close();
      store = new SqliteStore(path);
      await store.open();
      return store;
    },
    async cleanup() {
      await store.close();
      dir.cleanup();
    },
  };
});

describe('sqlite store specifics', () => {
  it('uses WAL and records the schema version', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'm.db');
    const store = new SqliteStore(path);
    await store.open();
    await store.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), 2);
    db.close();
    dir.cleanup();
  });

  it('upgrades a version-1 database: its memories stay, ids embedded by a model come from a covering index', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'm.db');
    const fresh = new SqliteStore(path);
    await fresh.open();
    await fresh.upsert([
      {
        id: 'old',
        namespace: 'default',
        text: 'written by version 1',
        metadata: {},
        tags: [],
        embedding: { vector: new Float32Array([1, 0]), fingerprint: 'fp:2' },
      },
    ]);
    await fresh.close();
    // Back to the version-1 schema, as an older server left it.
    const v1 = new Database(path);
    v1.exec(
      'DROP INDEX memories_embedded; CREATE INDEX memories_status ON memories (embedding_status, embedding_fingerprint);',
    );
    v1.pragma('user_version = 1');
    v1.close();
    const store = new SqliteStore(path);
    await store.open();
    assert.deepEqual(await store.embeddedIds('fp:2'), ['old']);
    await store.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 2);
    const plan = db
      .prepare(
        `EXPLAIN QUERY PLAN SELECT id FROM memories WHERE embedding_status = 'done' AND embedding_fingerprint = ? AND id > ? ORDER BY id`,
      )
      .all('fp:2', '') as { detail: string }[];
    assert.match(plan.map((p) => p.detail).join(' '), /COVERING INDEX memories_embedded/);
    db.close();
    dir.cleanup();
  });

  it('refuses a database from a newer version instead of damaging it', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'm.db');
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    await assert.rejects(new SqliteStore(path).open(), /schema is version 99/);
    dir.cleanup();
  });
});

describe('sqlite store: several processes opening one new database at once', () => {
  it('all succeed: each migration runs exactly once', { timeout: 120_000 }, async () => {
    const { spawn } = await import('node:child_process');
    const storeModule = new URL('../src/store/sqlite/sqlite-store.ts', import.meta.url).pathname;
    let failures: string[] = [];
    for (let round = 0; round < 5; round++) {
      const dir = tempDir();
      const path = join(dir.path, 'm.db');
      const code =
        `import { SqliteStore } from ${JSON.stringify(storeModule)};` +
        `const s = new SqliteStore(${JSON.stringify(path)}); await s.open();` +
        `await s.upsert([{ id: 'p' + process.pid, namespace: 'd', text: 't', metadata: {}, tags: [], embedding: null }]);` +
        `await s.close();`;
      const results = await Promise.all(
        Array.from(
          { length: 6 },
          () =>
            new Promise<{ status: number | null; err: string }>((resolve) => {
              const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
                stdio: ['ignore', 'ignore', 'pipe'],
              });
              let err = '';
              c.stderr.on('data', (d: Buffer) => (err += d.toString()));
              c.on('exit', (status) => resolve({ status, err }));
            }),
        ),
      );
      failures = failures.concat(
        results.filter((r) => r.status !== 0).map((r) => r.err.split('\n').find((l) => /Error/.test(l)) ?? ''),
      );
      const db = new Database(path, { readonly: true });
      assert.equal((db.prepare('SELECT COUNT(*) AS n FROM memories').get() as { n: number }).n, 6 - failures.length);
      db.close();
      dir.cleanup();
    }
    assert.deepEqual(failures, []);
  });
});
