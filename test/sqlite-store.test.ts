import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite-store.js';
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
    assert.equal(db.pragma('user_version', { simple: true }), 1);
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
