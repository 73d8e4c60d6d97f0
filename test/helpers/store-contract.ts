// The behaviour every MemoryStore must have, written once and run against each store.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { contentHash } from '../../src/store/content-hash.js';
import { keywordTerms } from '../../src/store/keyword-query.js';
import { dupKey } from '../../src/store/dup-key.js';
import type { ChangeEvent, MemoryStore, MemoryWrite, StoredVector } from '../../src/store/types.js';

export interface StoreFixture {
  store: MemoryStore;
  /** Closes the store and opens a new instance on the same data. */
  reopen(): Promise<MemoryStore>;
  cleanup(): Promise<void>;
}

const FP = 'test:model:4';
const vec = (...xs: number[]): StoredVector => ({ vector: Float32Array.from(xs), fingerprint: FP });
const write = (id: string, text: string, extra: Partial<MemoryWrite> = {}): MemoryWrite => ({
  id,
  namespace: 'default',
  text,
  metadata: {},
  tags: [],
  embedding: vec(1, 0, 0, 0),
  ...extra,
});

async function allChanges(store: MemoryStore, after: number, pageSize: number): Promise<ChangeEvent[]> {
  const out: ChangeEvent[] = [];
  let seq = after;
  for (let guard = 0; guard < 10_000; guard++) {
    const page = await store.changesSince(seq, pageSize);
    out.push(...page.events);
    assert.ok(page.toSeq >= seq, 'toSeq never goes backwards');
    seq = page.toSeq;
    if (!page.more) return out;
  }
  throw new Error('changesSince never finished');
}

export function storeContract(name: string, makeFixture: () => Promise<StoreFixture>): void {
  describe(`store contract: ${name}`, () => {
    let fx: StoreFixture;
    let store: MemoryStore;
    beforeEach(async () => {
      fx = await makeFixture();
      store = fx.store;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('creates memories and returns every field as stored', async () => {
      const [r] = await store.upsert([
        write('a', 'Grüße, 世界 🌍', {
          namespace: 'team',
          metadata: { n: 1, nested: { ok: true, list: [1, 'x', null] } },
          tags: ['x', 'y'],
        }),
      ]);
      assert.ok(r);
      assert.equal(r.id, 'a');
      assert.equal(r.text, 'Grüße, 世界 🌍');
      assert.equal(r.namespace, 'team');
      assert.deepEqual(r.metadata, { n: 1, nested: { ok: true, list: [1, 'x', null] } });
      assert.deepEqual(r.tags, ['x', 'y']);
      assert.equal(r.contentHash, contentHash('Grüße, 世界 🌍'));
      assert.equal(r.embedding.status, 'done');
      assert.equal(r.embedding.fingerprint, FP);
      assert.ok(r.seq > 0);
      const [again] = await store.get(['a']);
      assert.deepEqual(again, r);
    });

    it('replaces an existing id, keeping its creation time and taking a new sequence number', async () => {
      const [first] = await store.upsert([write('a', 'one')]);
      await new Promise((r) => setTimeout(r, 5));
      const [second] = await store.upsert([write('a', 'two', { tags: ['t'] })]);
      assert.equal(second!.text, 'two');
      assert.deepEqual(second!.tags, ['t']);
      assert.equal(second!.createdAt, first!.createdAt);
      assert.ok(second!.updatedAt > first!.updatedAt);
      assert.ok(second!.seq > first!.seq);
      assert.equal((await store.stats()).total, 1);
    });

    it('stores a memory without an embedding as pending', async () => {
      const [r] = await store.upsert([write('p', 'later', { embedding: null, embeddingError: 'provider down' })]);
      assert.equal(r!.embedding.status, 'pending');
      assert.equal(r!.embedding.fingerprint, null);
      assert.equal(r!.embedding.lastError, 'provider down');
      assert.deepEqual(await store.embeddedIds(FP), []);
    });

    it('returns only existing ids from get, in request order, without duplicates', async () => {
      await store.upsert([write('a', 'A'), write('b', 'B'), write('c', 'C')]);
      const got = await store.get(['c', 'missing', 'a', 'c']);
      assert.deepEqual(
        got.map((r) => r.id),
        ['c', 'a'],
      );
      assert.deepEqual(await store.get([]), []);
    });

    it('patches fields and requires a new embedding when the text changes', async () => {
      await store.upsert([write('a', 'old', { metadata: { k: 1 } })]);
      const meta = await store.patch('a', { metadata: { k: 2 } });
      assert.deepEqual(meta!.metadata, { k: 2 });
      assert.equal(meta!.embedding.status, 'done', 'a metadata change keeps the embedding');
      await assert.rejects(store.patch('a', { text: 'new' }));
      assert.equal((await store.get(['a']))[0]!.text, 'old', 'a rejected patch changes nothing');
      const text = await store.patch('a', { text: 'new', embedding: vec(0, 1, 0, 0) });
      assert.equal(text!.text, 'new');
      assert.equal(text!.contentHash, contentHash('new'));
      assert.equal(await store.patch('nope', { tags: [] }), null);
    });

    it('replaces a stored vector by a new one of the same dimension, whichever write brings it', async () => {
      // Fractional components (exact in float32): FalkorDB ignored a SET of a vector with them over
      // an existing vector of the same dimension, where whole numbers went through.
      const vectorOf = async (id: string) => [...(await store.vectorsOf([id], FP))[0]!.vector];
      const a = vec(0.5, 0.25, 0, 0);
      const b = vec(0, 0.75, 0.5, 0);
      const c = vec(0.125, 0, 0, 0.5);
      await store.upsert([write('a', 'alpha', { embedding: b }), write('b', 'beta', { embedding: c })]);
      await store.upsert([write('c', 'gamma', { embedding: null })]);
      await store.patch('a', { text: 'alpha two', embedding: a });
      assert.deepEqual(await vectorOf('a'), [...a.vector], 'patch');
      await store.upsert([write('b', 'beta two', { embedding: b })]);
      assert.deepEqual(await vectorOf('b'), [...b.vector], 'upsert of an existing id');
      const [rc] = await store.get(['c']);
      assert.equal(await store.setEmbedding('c', rc!.contentHash, a), true);
      assert.equal(await store.setEmbedding('c', rc!.contentHash, c), true);
      assert.deepEqual(await vectorOf('c'), [...c.vector], 'a second setEmbedding (a re-embedding)');
    });

    it('deletes, reports which ids existed, and records the deletions as changes', async () => {
      await store.upsert([write('a', 'A'), write('b', 'B')]);
      const head = await store.headSeq();
      assert.deepEqual(await store.delete(['a', 'zzz', 'a']), ['a']);
      assert.deepEqual(await store.get(['a']), []);
      const changes = await allChanges(store, head, 100);
      assert.deepEqual(
        changes.map((e) => [e.kind, e.kind === 'delete' ? e.id : e.record.id]),
        [['delete', 'a']],
      );
      assert.equal((await store.stats()).total, 1);
    });

    it('lists changes in sequence order, page by page, with vectors only for embedded memories', async () => {
      const start = await store.headSeq();
      for (let i = 0; i < 25; i++)
        await store.upsert([write(`m${i}`, `text ${i}`, i % 5 === 0 ? { embedding: null } : {})]);
      await store.delete(['m3', 'm4']);
      await store.upsert([write('m3', 'back again')]);
      for (const pageSize of [1, 7, 1000]) {
        const events = await allChanges(store, start, pageSize);
        const seqs = events.map((e) => e.seq);
        assert.deepEqual(
          seqs,
          [...seqs].sort((a, b) => a - b),
          `ordered (page ${pageSize})`,
        );
        assert.equal(new Set(seqs).size, seqs.length, `no duplicates (page ${pageSize})`);
        const upserts = events.filter((e) => e.kind === 'upsert');
        assert.equal(upserts.length, 24, 'm4 is gone; m3 appears once, with its newest state');
        const m3 = upserts.find((e) => e.record.id === 'm3');
        assert.equal(m3!.record.text, 'back again');
        const deletes = events.filter((e) => e.kind === 'delete').map((e) => e.id);
        assert.deepEqual(deletes.sort(), ['m3', 'm4']);
        for (const e of upserts) {
          assert.equal(e.vector === null, e.record.embedding.status !== 'done');
          if (e.vector) assert.deepEqual([...e.vector.vector], [1, 0, 0, 0]);
        }
      }
      const page = await store.changesSince(await store.headSeq(), 10);
      assert.deepEqual(page.events, []);
      assert.equal(page.more, false);
    });

    it('accepts an embedding only for the text it was made from', async () => {
      const [r] = await store.upsert([write('a', 'first', { embedding: null })]);
      assert.equal(await store.setEmbedding('a', contentHash('something else'), vec(0, 0, 1, 0)), false);
      assert.equal((await store.get(['a']))[0]!.embedding.status, 'pending');
      const before = await store.headSeq();
      assert.equal(await store.setEmbedding('a', r!.contentHash, vec(0, 0, 1, 0)), true);
      const [after] = await store.get(['a']);
      assert.equal(after!.embedding.status, 'done');
      assert.ok(after!.seq > before, 'an embedding is a change the index must see');
      assert.equal(await store.setEmbedding('missing', r!.contentHash, vec(0, 0, 1, 0)), false);
    });

    it('lists memories needing an embedding (pending or another model), newest first, skipping failed ones', async () => {
      await store.upsert([
        write('old-model', 'a', { embedding: { vector: Float32Array.from([1, 0]), fingerprint: 'other:2' } }),
      ]);
      await store.upsert([write('pending', 'b', { embedding: null })]);
      await store.upsert([write('current', 'c')]);
      await store.upsert([write('bad', 'd', { embedding: null })]);
      const needing = (await store.listNeedingEmbedding(FP, 10)).records;
      assert.deepEqual(
        needing.map((r) => r.id),
        ['bad', 'pending', 'old-model'],
      );
      const bad = needing[0]!;
      await store.recordEmbeddingFailure('bad', bad.contentHash, {
        fingerprint: FP,
        error: 'HTTP 400: too long',
        permanent: true,
        maxAttempts: 5,
      });
      const [failed] = await store.get(['bad']);
      assert.equal(failed!.embedding.status, 'failed');
      assert.equal(failed!.embedding.lastError, 'HTTP 400: too long');
      assert.deepEqual(
        (await store.listNeedingEmbedding(FP, 10)).records.map((r) => r.id),
        ['pending', 'old-model'],
      );
      assert.ok(
        (await store.listNeedingEmbedding('another:model:4', 10)).records.some((r) => r.id === 'bad'),
        'a failure under one model is retried when the model changes',
      );
      assert.equal((await store.listNeedingEmbedding(FP, 1)).records.length, 1, 'limit is honoured');
    });

    it('marks a memory failed after too many transient failures', async () => {
      const [r] = await store.upsert([write('t', 'x', { embedding: null })]);
      for (let i = 0; i < 2; i++) {
        await store.recordEmbeddingFailure('t', r!.contentHash, {
          fingerprint: FP,
          error: 'HTTP 503',
          permanent: false,
          maxAttempts: 3,
        });
        assert.equal((await store.get(['t']))[0]!.embedding.status, 'pending');
      }
      await store.recordEmbeddingFailure('t', r!.contentHash, {
        fingerprint: FP,
        error: 'HTTP 503',
        permanent: false,
        maxAttempts: 3,
      });
      assert.equal((await store.get(['t']))[0]!.embedding.status, 'failed');
    });

    it('reports embedded ids per fingerprint and status counts', async () => {
      await store.upsert([
        write('a', 'A'),
        write('b', 'B', { embedding: null }),
        write('c', 'C', { embedding: { vector: Float32Array.from([1]), fingerprint: 'x:1' } }),
      ]);
      assert.deepEqual((await store.embeddedIds(FP)).sort(), ['a']);
      assert.deepEqual(await store.embeddedIds('x:1'), ['c']);
      assert.equal(await store.count(), 3);
      const stats = await store.stats();
      assert.deepEqual({ ...stats, headSeq: 0 }, { total: 3, pending: 1, done: 2, failed: 0, headSeq: 0 });
      assert.equal(stats.headSeq, await store.headSeq());
    });

    it('keeps everything across a close and reopen', async () => {
      await store.upsert([write('a', 'durable', { metadata: { k: 'v' } })]);
      await store.delete(['a']);
      await store.upsert([write('b', 'also durable')]);
      const head = await store.headSeq();
      store = await fx.reopen();
      assert.equal(await store.headSeq(), head);
      assert.deepEqual(
        (await store.get(['a', 'b'])).map((r) => r.text),
        ['also durable'],
      );
      const events = await allChanges(store, 0, 100);
      assert.deepEqual(
        events.map((e) => e.kind),
        ['delete', 'upsert'],
        "a's row is gone; its deletion and b's upsert remain",
      );
    });

    it('keeps a keyword index of every write: identifiers, names and accents findable, filters inside, deletes and edits followed', async () => {
      const keyword = store.keyword!;
      assert.ok(keyword, 'the store has a keyword index');
      await store.upsert([
        write('jira', 'the billing service is tracked in JIRA-4512', { namespace: 'work', tags: ['billing'] }),
        write('jira-near', 'the login page is tracked in JIRA-4513', { namespace: 'work' }),
        write('host', 'builds run on hopper-7.corp.example.com.', { namespace: 'infra' }),
        write('cafe', 'Grüße from the Café Köln', { embedding: null }),
        write('plain', 'a note about nothing in particular'),
      ]);
      while (await keyword.fillStep(100));
      const ids = async (text: string, filter = {}) =>
        (await keyword.search(keywordTerms(text), 10, filter)).map((h) => h.id);
      assert.equal((await ids('JIRA-4512'))[0], 'jira');
      assert.deepEqual(
        (await keyword.matchAll(keywordTerms('status of JIRA-4512').identifiers, 10, {})).map((h) => h.id),
        ['jira'],
      );
      assert.equal((await ids('hopper-7'))[0], 'host', 'a part of a hostname, and a sentence-final one');
      assert.equal((await ids('hopper-7.corp.example.com'))[0], 'host');
      assert.deepEqual(await ids('cafe koln'), ['cafe'], 'accents and case folded; pending memories too');
      assert.deepEqual(await ids('tracked', { namespace: 'work', tags: ['billing'] }), ['jira']);
      assert.deepEqual(await ids('tracked', { namespace: 'infra' }), []);
      assert.deepEqual(await ids('"OR" AND (NOT * -x'), [], 'query syntax in user text is inert');

      await store.patch('jira', { text: 'billing moved to JIRA-9000', embedding: null });
      await store.delete(['host']);
      assert.ok(!(await ids('4512')).includes('jira'), 'the old text is gone from the index');
      assert.equal((await ids('JIRA-9000'))[0], 'jira');
      assert.deepEqual(await ids('hopper-7'), [], 'a deleted memory leaves the index');
      const v = await keyword.verify(5);
      assert.deepEqual([v.missing, v.extra], [0, 0]);
    });

    it('lists in creation order with keyset paging, filters inside, counts what matches, finds duplicates by normalized text', async () => {
      for (let i = 0; i < 7; i++) {
        await store.upsert([
          write(`l${i}`, `listed memory ${i}`, { namespace: i % 2 ? 'odd' : 'even', tags: i < 3 ? ['early'] : [] }),
        ]);
        // Times have millisecond resolution: the time bounds below need each memory in its own.
        await new Promise((r) => setTimeout(r, 3));
      }
      const pages = async (order: 'newest' | 'oldest', filter = {}) => {
        const out: string[] = [];
        let after: { createdAt: string; id: string } | undefined;
        for (;;) {
          const page = await store.list({ filter, order, after, limit: 3 });
          out.push(...page.map((r) => r.id));
          if (page.length < 3) return out;
          const last = page[page.length - 1]!;
          after = { createdAt: last.createdAt, id: last.id };
        }
      };
      const oldest = await pages('oldest');
      assert.deepEqual(oldest, ['l0', 'l1', 'l2', 'l3', 'l4', 'l5', 'l6']);
      assert.deepEqual(await pages('newest'), [...oldest].reverse());
      assert.deepEqual(await pages('oldest', { namespace: 'odd' }), ['l1', 'l3', 'l5']);
      assert.deepEqual(await pages('oldest', { tags: ['early'], namespace: 'even' }), ['l0', 'l2']);
      const third = (await store.get(['l3']))[0]!.createdAt;
      assert.deepEqual(await pages('oldest', { createdAfter: third }), ['l3', 'l4', 'l5', 'l6']);
      assert.deepEqual(await pages('oldest', { createdBefore: third }), ['l0', 'l1', 'l2']);
      assert.equal(await store.countMatching({}), 7);
      assert.equal(await store.countMatching({ namespace: 'odd', createdAfter: third }), 2);

      const dups = await store.duplicatesOf('even', [
        dupKey('  listed   memory 2 '),
        dupKey('listed memory 1'),
        dupKey('new'),
      ]);
      assert.deepEqual(
        [...dups],
        [[dupKey('listed memory 2'), 'l2']],
        'same text after whitespace; same namespace only',
      );
      await store.patch('l2', { text: 'changed text', embedding: null });
      assert.equal((await store.duplicatesOf('even', [dupKey('listed memory 2')])).size, 0, 'follows edits');
    });
  });
}
