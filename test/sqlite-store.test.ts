import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { DROP_COUNTS_SCHEMA } from '../src/store/sqlite/sqlite-counts.js';
import { DROP_KEYWORD_SCHEMA } from '../src/store/sqlite/sqlite-keyword.js';
import { SCHEMA_VERSION, SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { keywordTerms } from '../src/store/keyword-query.js';
import { dupKey } from '../src/store/dup-key.js';
import { countsOf } from './helpers/counts.js';
import { rng } from './helpers/vectors.js';
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

/** Undoes migrations 5 (counters) and 4 (duplicate keys, the creation-order index), to make a database of an earlier schema. */
const DROP_SCHEMA_4 =
  DROP_COUNTS_SCHEMA +
  'DROP INDEX memories_dup; DROP INDEX memories_created; ALTER TABLE memories DROP COLUMN dup_key;';

describe('sqlite store specifics', () => {
  it('uses WAL and records the schema version', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'm.db');
    const store = new SqliteStore(path);
    await store.open();
    await store.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
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
      'DROP INDEX memories_embedded; CREATE INDEX memories_status ON memories (embedding_status, embedding_fingerprint);' +
        DROP_KEYWORD_SCHEMA +
        DROP_SCHEMA_4,
    );
    v1.pragma('user_version = 1');
    v1.close();
    const store = new SqliteStore(path);
    await store.open();
    assert.deepEqual(await store.embeddedIds('fp:2'), ['old']);
    await store.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    const plan = db
      .prepare(
        `EXPLAIN QUERY PLAN SELECT id FROM memories WHERE embedding_status = 'done' AND embedding_fingerprint = ? AND id > ? ORDER BY id`,
      )
      .all('fp:2', '') as { detail: string }[];
    assert.match(plan.map((p) => p.detail).join(' '), /COVERING INDEX memories_embedded/);
    db.close();
    dir.cleanup();
  });

  it('upgrades a database from before the keyword index: opening is instant, the old rows are indexed in steps', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'm.db');
    const fresh = new SqliteStore(path);
    await fresh.open();
    const writes = Array.from({ length: 2500 }, (_, i) => ({
      id: `old-${i}`,
      namespace: i % 2 ? 'odd' : 'even',
      text: i === 1234 ? 'the billing service is tracked in JIRA-4512' : `ordinary note number ${i}`,
      metadata: {},
      tags: i % 3 ? [] : ['third'],
      embedding: null,
    }));
    await fresh.upsert(writes);
    await fresh.close();
    const v2 = new Database(path);
    v2.exec(DROP_KEYWORD_SCHEMA + DROP_SCHEMA_4);
    v2.pragma('user_version = 2');
    v2.close();

    const store = new SqliteStore(path);
    await store.open();
    assert.deepEqual(await store.keyword.state(), { indexed: 0, total: 2500, building: true });
    const dup = await store.duplicatesOf('even', [dupKey(' ordinary note  number 2')]);
    assert.equal(dup.get(dupKey('ordinary note number 2')), 'old-2', 'the upgrade gave old rows their duplicate key');
    const jira = keywordTerms('JIRA-4512');
    assert.deepEqual(await store.keyword.search(jira, 5, {}), [], 'not indexed yet');
    // Written after the upgrade: indexed at once by the triggers, not twice by the fill.
    await store.upsert([{ ...writes[0]!, id: 'new', text: 'a fresh note about JIRA-4512' }]);
    await store.upsert([{ ...writes[7]!, text: 'note seven rewritten after the upgrade' }]);
    let steps = 0;
    while (await store.keyword.fillStep(1000)) steps++;
    assert.equal(steps, 2);
    assert.deepEqual(await store.keyword.state(), { indexed: 2501, total: 2501, building: false });
    assert.deepEqual((await store.keyword.verify(5)).missing, 0);
    assert.deepEqual((await store.keyword.search(jira, 5, {})).map((h) => h.id).sort(), ['new', 'old-1234']);
    assert.deepEqual(
      (await store.keyword.search(keywordTerms('rewritten'), 5, {})).map((h) => h.id),
      ['old-7'],
    );
    const wanted = writes.filter((w, i) => w.namespace === 'odd' && w.tags.includes('third') && i !== 7).length;
    assert.equal(
      (await store.keyword.search(keywordTerms('ordinary note'), 3000, { namespace: 'odd', tags: ['third'] })).length,
      wanted,
      'filters apply inside the query, before the limit',
    );
    await store.close();
    dir.cleanup();
  });

  it('a keyword index dropped by hand is recreated on open and refilled; damage is reported and reset repairs it', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'm.db');
    const store = new SqliteStore(path);
    await store.open();
    await store.upsert(
      Array.from({ length: 30 }, (_, i) => ({
        id: `m${i}`,
        namespace: 'default',
        text: `memory number ${i} about hopper-7.corp.example.com`,
        metadata: {},
        tags: [],
        embedding: null,
      })),
    );
    await store.close();
    const raw = new Database(path);
    raw.exec('DROP TABLE memories_fts');
    raw.close();
    await store.open();
    assert.equal((await store.keyword.state()).building, true);
    assert.equal(
      (
        await store.upsert([
          { id: 'after', namespace: 'default', text: 'written after', metadata: {}, tags: [], embedding: null },
        ])
      ).length,
      1,
    );
    while (await store.keyword.fillStep(10));
    assert.equal((await store.keyword.search(keywordTerms('hopper-7'), 50, {})).length, 30);
    await store.close();

    const damage = new Database(path);
    damage.exec('DELETE FROM memories_fts WHERE rowid IN (SELECT rowid FROM memories LIMIT 5)');
    damage.close();
    await store.open();
    const v = await store.keyword.verify(3);
    assert.equal(v.missing, 5);
    assert.equal(v.missingSample.length, 3);
    await store.keyword.reset();
    while (await store.keyword.fillStep(1000));
    assert.deepEqual(await store.keyword.verify(3), { missing: 0, extra: 0, missingSample: [] });
    await store.close();
    dir.cleanup();
  });

  it('ranks by the rarer terms of a query: a term in most memories is dropped when a rarer one is left', async () => {
    const dir = tempDir();
    const store = new SqliteStore(join(dir.path, 'm.db'));
    await store.open();
    await store.upsert(
      Array.from({ length: 1500 }, (_, i) => ({
        id: `m${i}`,
        namespace: 'default',
        text: i === 700 ? 'common words and one zebra' : `common words number ${i}`,
        metadata: {},
        tags: [],
        embedding: null,
      })),
    );
    const ids = async (q: string, k = 2000) => (await store.keyword.search(keywordTerms(q), k, {})).map((h) => h.id);
    assert.deepEqual(await ids('common zebra'), ['m700'], '"common" (in every memory) is not ranked by');
    assert.equal((await ids('common words')).length, 1500, 'only common terms: all of them are kept');
    await store.close();
    dir.cleanup();
  });

  it('keeps its counters equal to a recount through a random mix of writes, re-embeds, failures and deletes; an older database gets them', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'm.db');
    let store = new SqliteStore(path);
    await store.open();
    const next = rng(20261202);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    const namespaces = ['work', 'home', 'a/b'];
    const models = ['hash:384', 'word-vectors:100'];
    const vector = (fingerprint: string) => ({ vector: new Float32Array([next(), next()]), fingerprint });
    const live = new Map<string, string>(); // id -> content hash
    const check = async (step: number) => {
      const { counters, recount } = countsOf(path);
      assert.deepEqual(counters, recount, `step ${step}: counters equal a recount`);
      const total = recount.reduce((n, l) => n + Number(l.split('|')[3]), 0);
      assert.equal(await store.count(), total);
      const stats = await store.stats();
      assert.equal(stats.total, total);
      assert.equal(stats.done + stats.pending + stats.failed, total);
      for (const fp of models) {
        const byNs = await store.embeddingCounts(fp);
        const done = recount.filter((l) => l.includes(`|done|${fp}|`)).reduce((n, l) => n + Number(l.split('|')[3]), 0);
        assert.equal(
          byNs.reduce((n, c) => n + c.done, 0),
          done,
          `step ${step}: done with ${fp}`,
        );
        assert.equal(
          byNs.reduce((n, c) => n + c.done + c.failed + c.pending, 0),
          total,
        );
      }
      for (const ns of namespaces) {
        const inNs = recount.filter((l) => l.startsWith(`${ns}|`)).reduce((n, l) => n + Number(l.split('|')[3]), 0);
        assert.equal(await store.countMatching({ namespace: ns }), inNs, `step ${step}: namespace ${ns}`);
      }
    };
    let made = 0;
    for (let step = 1; step <= 600; step++) {
      const r = next();
      const ids = [...live.keys()];
      if (r < 0.35 || ids.length < 5) {
        const n = 1 + Math.floor(next() * 5);
        const written = await store.upsert(
          Array.from({ length: n }, () => ({
            id: next() < 0.2 && ids.length ? pick(ids) : `m${made++}`,
            namespace: pick(namespaces),
            text: `text ${made} ${next()}`,
            metadata: {},
            tags: [],
            embedding: next() < 0.6 ? vector(pick(models)) : null,
          })),
        );
        for (const w of written) live.set(w.id, w.contentHash);
      } else if (r < 0.5) {
        const id = pick(ids);
        const patched = await store.patch(id, { text: `patched ${step}`, embedding: null });
        if (patched) live.set(id, patched.contentHash);
      } else if (r < 0.7) {
        // Re-embeds (a model change, the backfill), some for a stale text: refused, nothing counted.
        const chosen = Array.from({ length: 1 + Math.floor(next() * 4) }, () => pick(ids));
        await store.setEmbeddings(
          chosen.map((id) => ({
            id,
            contentHash: next() < 0.9 ? live.get(id)! : 'stale',
            vector: vector(pick(models)),
          })),
        );
      } else if (r < 0.85) {
        const id = pick(ids);
        await store.recordEmbeddingFailure(id, live.get(id)!, {
          fingerprint: pick(models),
          error: 'refused',
          permanent: next() < 0.5,
          maxAttempts: 2,
        });
      } else {
        const gone = await store.delete([pick(ids), pick(ids)]);
        for (const id of gone) live.delete(id);
      }
      if (step % 50 === 0) await check(step);
    }
    assert.ok((await store.stats()).failed > 0 && (await store.stats()).pending > 0, 'the mix reached every status');
    // A database from before the counters: the migration counts what is there.
    await store.close();
    const old = new Database(path);
    old.exec(DROP_COUNTS_SCHEMA);
    old.pragma(`user_version = ${SCHEMA_VERSION - 1}`);
    old.close();
    store = new SqliteStore(path);
    await store.open();
    await check(601);
    await store.close();
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
