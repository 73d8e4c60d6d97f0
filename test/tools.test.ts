import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startHarness, testConfig, textOf, type Harness } from './helpers/harness.js';
import { tempDir } from './helpers/tmp.js';
import { callOk, output } from './helpers/tool-call.js';

describe('tools through a real MCP client (in-process)', () => {
  let h: Harness;
  let dir: ReturnType<typeof tempDir>;
  before(async () => {
    dir = tempDir();
    h = await startHarness(testConfig(dir.path));
  });
  after(async () => {
    await h.close();
    dir.cleanup();
  });

  it('lists the tools with input and output schemas and honest annotations', async () => {
    const { tools } = await h.client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    assert.deepEqual([...byName.keys()].sort(), [
      'backfill_run',
      'backfill_status',
      'index_health',
      'index_repair',
      'memory_delete',
      'memory_get',
      'memory_list',
      'memory_search',
      'memory_store',
      'memory_update',
    ]);
    for (const t of tools) {
      assert.equal(t.inputSchema.type, 'object', t.name);
      assert.equal(t.outputSchema?.type, 'object', t.name);
      assert.ok(t.description && t.description.length > 40, t.name);
    }
    assert.equal(byName.get('memory_search')!.annotations?.readOnlyHint, true);
    assert.equal(byName.get('memory_get')!.annotations?.readOnlyHint, true);
    assert.equal(byName.get('memory_delete')!.annotations?.destructiveHint, true);
    assert.equal(byName.get('memory_store')!.annotations?.readOnlyHint, false);
    assert.equal(byName.get('backfill_status')!.annotations?.readOnlyHint, true);
    assert.equal(byName.get('backfill_run')!.annotations?.destructiveHint, false);
    assert.equal(byName.get('index_health')!.annotations?.readOnlyHint, true);
    assert.equal(byName.get('index_repair')!.annotations?.readOnlyHint, false);
  });

  it('stores one memory, finds it, gets it, updates it, deletes it', async () => {
    const stored = await h.call('memory_store', {
      text: 'The user is allergic to peanuts',
      tags: ['health', 'food'],
      metadata: { source: 'chat', confidence: 0.9 },
      namespace: 'alice',
    });
    assert.equal(stored.isError, undefined, textOf(stored));
    const [id] = output('memory_store', stored).ids;
    assert.ok(id);
    assert.deepEqual(output('memory_store', stored).items, [{ id, status: 'created', embedding: 'done' }]);

    const search = await h.call('memory_search', { query: 'peanuts allergy', namespace: 'alice' });
    const s = output('memory_search', search);
    assert.equal(s.results[0]?.id, id);
    assert.equal(s.mode, 'hybrid');
    assert.ok(s.results[0]!.semantic!.score > 0.2, 'cosine in the semantic channel');
    assert.equal(s.results[0]!.keyword?.rank, 1, 'first in the keyword channel too');
    assert.deepEqual(s.results[0]!.tags, ['health', 'food']);
    assert.equal(s.provider?.name, 'hash');
    assert.equal(s.provider?.kind, 'lexical');
    assert.match(textOf(search), /lexical/);

    const got = await h.call('memory_get', { id });
    const g = output('memory_get', got);
    assert.equal(g.memories[0]!.text, 'The user is allergic to peanuts');
    assert.deepEqual(g.memories[0]!.metadata, { source: 'chat', confidence: 0.9 });
    assert.equal(g.memories[0]!.embedding_status, 'done');
    assert.deepEqual(g.missing, []);

    const updated = await h.call('memory_update', { id, text: 'The user is allergic to shellfish', tags: ['health'] });
    assert.equal(output('memory_update', updated).reembedded, true);
    const after = await callOk(h, 'memory_search', { query: 'shellfish', namespace: 'alice' });
    assert.equal(after.results[0]?.id, id);
    const old = await callOk(h, 'memory_search', { query: 'peanuts', namespace: 'alice', min_score: 0.3 });
    assert.equal(old.results.length, 0, 'the old text is no longer what the vector says');

    const deleted = await h.call('memory_delete', { id });
    assert.deepEqual(output('memory_delete', deleted), { deleted: [id], missing: [] });
    const gone = await callOk(h, 'memory_search', { query: 'shellfish', namespace: 'alice' });
    assert.ok(!gone.results.some((r) => r.id === id), 'a deleted memory is never returned');
  });

  it('finds memories the index learns about during the search itself (written behind its back)', async () => {
    // A fresh server whose index is open and empty; memories then arrive in the store directly
    // (as from another process). The search catches the index up and must answer, not loop.
    const d = tempDir();
    const fresh = await startHarness(testConfig(d.path));
    try {
      await fresh.app.service.ready();
      const embedder = fresh.app.embedder;
      const texts = Array.from({ length: 12 }, (_, i) => `orchard note ${i} about apple trees`);
      const vectors = await embedder.embed(texts);
      await fresh.app.store.upsert(
        texts.map((text, i) => ({
          id: `o${i}`,
          namespace: 'default',
          text,
          metadata: {},
          tags: [],
          embedding: { vector: vectors[i]!, fingerprint: embedder.fingerprint },
        })),
      );
      assert.equal(fresh.app.service.openIndex!.liveCount, 0);
      const r = await fresh.call('memory_search', { query: 'apple trees orchard', k: 5 });
      assert.equal(r.isError, undefined, textOf(r));
      assert.equal(output('memory_search', r).results.length, 5);
    } finally {
      await fresh.close();
      d.cleanup();
    }
  });

  it('stores a batch with own ids; an existing id is a retry with its text, refused with another', async () => {
    const items = Array.from({ length: 30 }, (_, i) => ({
      id: `batch-${i}`,
      text: `batch memory number ${i} about topic ${i % 3}`,
      tags: [`t${i % 3}`],
    }));
    const r = await h.call('memory_store', { items });
    assert.equal(r.isError, undefined, textOf(r));
    assert.equal(output('memory_store', r).ids.length, 30);
    const again = await h.call('memory_store', { id: 'batch-0', text: 'batch memory number 0 about topic 0' });
    assert.deepEqual(output('memory_store', again).items, [{ id: 'batch-0', status: 'unchanged', embedding: 'done' }]);
    const other = await h.call('memory_store', { id: 'batch-0', text: 'replaced text for batch zero' });
    assert.equal(other.isError, true);
    assert.match(textOf(other), /memory_update/);
    const got = await callOk(h, 'memory_get', { id: 'batch-0' });
    assert.equal(got.memories[0]!.text, 'batch memory number 0 about topic 0');
    const many = await callOk(h, 'memory_get', { ids: ['batch-1', 'nope', 'batch-2'] });
    assert.equal(many.memories.length, 2);
    assert.deepEqual(many.missing, ['nope']);
  });

  it('filters by tags and metadata without losing matches that rank below k unfiltered', async () => {
    const items = Array.from({ length: 200 }, (_, i) => ({
      id: `f-${i}`,
      text: `weekly planning notes ${i}`,
      metadata: { project: i === 187 ? 'rare' : 'common', n: i },
      tags: i % 50 === 0 ? ['milestone'] : [],
    }));
    await h.call('memory_store', { items: items.slice(0, 100) });
    await h.call('memory_store', { items: items.slice(100) });
    const rare = await callOk(h, 'memory_search', {
      query: 'weekly planning notes',
      k: 3,
      filter: { project: 'rare' },
    });
    assert.deepEqual(
      rare.results.map((r) => r.id),
      ['f-187'],
    );
    const tagged = await callOk(h, 'memory_search', { query: 'weekly planning notes', k: 10, tags: ['milestone'] });
    assert.deepEqual(tagged.results.map((r) => r.id).sort(), ['f-0', 'f-100', 'f-150', 'f-50']);
    const ns = await callOk(h, 'memory_search', { query: 'weekly planning notes', namespace: 'nobody' });
    assert.equal(ns.results.length, 0);
  });

  describe('bad input returns isError with a hint, and the server keeps working', () => {
    const cases: [string, string, Record<string, unknown>, RegExp][] = [
      ['empty text', 'memory_store', { text: '   ' }, /text is empty/],
      ['oversized text', 'memory_store', { text: 'x'.repeat(40_000) }, /40000 characters; the limit is 32000.*split/],
      [
        'oversized metadata',
        'memory_store',
        { text: 'ok', metadata: { blob: 'y'.repeat(20_000) } },
        /metadata is \d+ bytes/,
      ],
      ['neither text nor items', 'memory_store', { tags: ['x'] }, /pass text .* or items/],
      ['text and items', 'memory_store', { text: 'a', items: [{ text: 'b' }] }, /not both/],
      [
        'duplicate ids in a batch',
        'memory_store',
        {
          items: [
            { id: 'd', text: 'a' },
            { id: 'd', text: 'b' },
          ],
        },
        /appears twice/,
      ],
      [
        'too many items',
        'memory_store',
        { items: Array.from({ length: 257 }, () => ({ text: 'a' })) },
        /257 items.*limit is 256/,
      ],
      ['bad namespace', 'memory_store', { text: 'a', namespace: 'has space' }, /namespace must be/],
      ['non-JSON metadata type', 'memory_store', { text: 'a', metadata: 'not an object' }, /metadata/i],
      ['k = 0', 'memory_search', { query: 'x', k: 0 }, /k must be at least 1/],
      ['k too large', 'memory_search', { query: 'x', k: 101 }, /k must be at most 100/],
      ['fractional k', 'memory_search', { query: 'x', k: 2.5 }, /whole number/],
      ['empty query', 'memory_search', { query: '' }, /query is empty/],
      ['min_score out of range', 'memory_search', { query: 'x', min_score: 2 }, /min_score/],
      ['unknown id (get)', 'memory_get', { id: 'does-not-exist' }, /NOT_FOUND.*memory_search/],
      ['get with neither', 'memory_get', {}, /pass id .* or ids/],
      ['unknown id (update)', 'memory_update', { id: 'does-not-exist', text: 'x' }, /NOT_FOUND/],
      ['update with nothing', 'memory_update', { id: 'batch-1' }, /nothing to update/],
      ['unknown id (delete)', 'memory_delete', { id: 'does-not-exist' }, /NOT_FOUND.*nothing was deleted/],
      ['empty id list', 'memory_delete', { ids: [] }, /no ids given/],
    ];
    for (const [label, tool, args, message] of cases) {
      it(label, async () => {
        const before = await callOk(h, 'memory_get', { ids: ['batch-1', 'batch-2'] });
        const r = await h.call(tool, args);
        assert.equal(r.isError, true, `expected an error, got ${textOf(r)}`);
        assert.match(textOf(r), message);
        const afterCall = await callOk(h, 'memory_get', { ids: ['batch-1', 'batch-2'] });
        assert.deepEqual(afterCall, before, 'nothing stored was lost or changed');
      });
    }
  });

  it('survives a call of an unknown tool as a protocol-level error', async () => {
    const r = await h.call('no_such_tool', {});
    assert.equal(r.isError, true);
    assert.match(textOf(r), /not found/);
  });
});
