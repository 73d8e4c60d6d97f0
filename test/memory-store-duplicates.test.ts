// memory_store is additive: a retry creates nothing, an explicit id never replaces, near
// duplicates are listed and kept, skipped or merged as the call says. And the replies a model
// reads stay within their sizes (tools/list, search text, snippets).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startHarness, testConfig, textOf, type Harness } from './helpers/harness.js';
import { tempDir } from './helpers/tmp.js';
import { callOk, output } from './helpers/tool-call.js';

describe('memory_store duplicates', () => {
  let h: Harness;
  let dir: ReturnType<typeof tempDir>;
  before(async () => {
    dir = tempDir();
    h = await startHarness(testConfig(dir.path, { BACKFILL_INTERVAL_MS: '0' }));
    await h.app.service.ready();
  });
  after(async () => {
    await h.close();
    dir.cleanup();
  });
  const total = async (namespace?: string) =>
    (await callOk(h, 'memory_list', { limit: 1, ...(namespace ? { namespace } : {}) })).total;

  it('a retried store returns the existing id and writes nothing', async () => {
    const first = await callOk(h, 'memory_store', { text: 'The staging database moved to port 5433.' });
    assert.equal(first.items[0]?.status, 'created');
    const id = first.ids[0]!;
    const before = await total();
    const retry = await h.call('memory_store', { text: '  The staging database   moved to port 5433. ' });
    const out = output('memory_store', retry);
    assert.deepEqual(out.ids, [id]);
    assert.equal(out.items[0]?.status, 'duplicate');
    assert.equal(out.items[0]?.duplicate_of, id);
    assert.match(textOf(retry), /duplicate.*nothing written/);
    assert.equal(await total(), before, 'nothing written');
    // Another namespace is another memory.
    const elsewhere = await callOk(h, 'memory_store', {
      text: 'The staging database moved to port 5433.',
      namespace: 'other',
    });
    assert.equal(elsewhere.items[0]?.status, 'created');
    assert.notEqual(elsewhere.ids[0], id);
    // Within one batch: the second copy points at the first.
    const batch = await callOk(h, 'memory_store', {
      items: [{ text: 'Backups run at 02:00 UTC.' }, { text: 'Backups run at 02:00 UTC.' }, { text: 'A third fact.' }],
    });
    assert.deepEqual(
      batch.items.map((i) => i.status),
      ['created', 'duplicate', 'created'],
    );
    assert.equal(batch.items[1]?.duplicate_of, batch.ids[0]);
  });

  it('an explicit id: the same text is a retry, another text is refused with a hint to update', async () => {
    await callOk(h, 'memory_store', { id: 'fixed', text: 'The VPN gateway is vpn-2.example.net.' });
    const again = await callOk(h, 'memory_store', { id: 'fixed', text: 'The VPN gateway is vpn-2.example.net.' });
    assert.equal(again.items[0]?.status, 'unchanged');
    const other = await h.call('memory_store', { id: 'fixed', text: 'Something else entirely.' });
    assert.equal(other.isError, true);
    assert.match(textOf(other), /exists with another text.*memory_update/s);
    const kept = await callOk(h, 'memory_get', { id: 'fixed' });
    assert.equal(kept.memories[0]?.text, 'The VPN gateway is vpn-2.example.net.', 'nothing replaced');
  });

  it('near duplicates are listed, and kept, skipped or merged as on_duplicate says', async () => {
    const base = 'Alice prefers tea over coffee in the morning meetings';
    const original = (await callOk(h, 'memory_store', { text: base, namespace: 'near' })).ids[0]!;
    const kept = await callOk(h, 'memory_store', { text: `${base}.`, namespace: 'near' });
    assert.equal(kept.items[0]?.status, 'created', 'keep (the default) stores it');
    assert.equal(kept.items[0]?.similar?.[0]?.id, original);
    assert.ok((kept.items[0]?.similar?.[0]?.score ?? 0) >= 0.9);
    const count = await total('near');
    const skipped = await callOk(h, 'memory_store', { text: `${base}!`, namespace: 'near', on_duplicate: 'skip' });
    assert.equal(skipped.items[0]?.status, 'skipped');
    assert.equal(await total('near'), count, 'skip writes nothing');
    const updated = await callOk(h, 'memory_store', {
      text: `${base}!!`,
      namespace: 'near',
      on_duplicate: 'update',
      tags: ['merged'],
    });
    assert.equal(updated.items[0]?.status, 'updated');
    const target = updated.ids[0]!;
    assert.ok([original, kept.ids[0]].includes(target), 'the closest one is changed');
    assert.equal(await total('near'), count, 'update adds nothing');
    const read = await callOk(h, 'memory_get', { id: target });
    assert.equal(read.memories[0]?.text, `${base}!!`);
    assert.deepEqual(read.memories[0]?.tags, ['merged']);
    // Not near: another identifier, or few words shared.
    const ticket = await callOk(h, 'memory_store', {
      text: 'JIRA-4512 is fixed in the billing service',
      namespace: 'near',
    });
    const sibling = await callOk(h, 'memory_store', {
      text: 'JIRA-4513 is fixed in the billing service',
      namespace: 'near',
      on_duplicate: 'skip',
    });
    assert.equal(sibling.items[0]?.status, 'created', 'another ticket is not a duplicate');
    assert.notEqual(sibling.ids[0], ticket.ids[0]);
    // A bulk call (more than 20 new memories) looks for near duplicates only when it says on_duplicate.
    const bulk = (mark: string) =>
      Array.from({ length: 25 }, (_, i) => ({
        text: i === 0 ? `${base}${mark}` : `bulk filler ${mark} number ${i}`,
        namespace: 'near',
      }));
    const unchecked = await callOk(h, 'memory_store', { items: bulk('?') });
    assert.equal(unchecked.items[0]?.similar, undefined);
    const checked = await callOk(h, 'memory_store', { items: bulk('?!'), on_duplicate: 'keep' });
    assert.ok((checked.items[0]?.similar?.length ?? 0) > 0, 'checked when on_duplicate is given');
    const unknown = await h.call('memory_store', { text: 'x', on_duplicate: 'merge' });
    assert.equal(unknown.isError, true);
    assert.match(textOf(unknown), /keep.*skip.*update/s);
  });

  it('is annotated additive and idempotent', async () => {
    const tools = (await h.client.listTools()).tools;
    const store = tools.find((t) => t.name === 'memory_store')!;
    assert.equal(store.annotations?.destructiveHint, false);
    assert.equal(store.annotations?.idempotentHint, true);
    assert.equal(tools.find((t) => t.name === 'memory_delete')!.annotations?.destructiveHint, true);
    assert.equal(tools.find((t) => t.name === 'memory_list')!.annotations?.readOnlyHint, true);
  });
});

describe('reply sizes', () => {
  let h: Harness;
  let dir: ReturnType<typeof tempDir>;
  before(async () => {
    dir = tempDir();
    h = await startHarness(testConfig(dir.path, { BACKFILL_INTERVAL_MS: '0' }));
    await h.app.service.ready();
  });
  after(async () => {
    await h.close();
    dir.cleanup();
  });

  it('tools/list stays within 12,000 characters', async () => {
    const listed = JSON.stringify(await h.client.listTools());
    assert.ok(listed.length <= 12_000, `tools/list is ${listed.length} characters`);
  });

  it('a 10-result search answers in at most 1.3x the memories text plus 300 characters', async () => {
    const items = Array.from({ length: 30 }, (_, i) => ({
      text:
        `Incident ${i}: the ingest pipeline stalled after the certificate rotation on gateway ${i}; ` +
        `the fix was to restart the collector and pin the intermediate certificate.`,
      namespace: 'ops',
      tags: ['incident'],
      metadata: { severity: i % 3 },
    }));
    await callOk(h, 'memory_store', { items });
    const r = await h.call('memory_search', { query: 'ingest pipeline certificate rotation', k: 10 });
    const out = output('memory_search', r);
    assert.equal(out.results.length, 10);
    const memoriesText = out.results.reduce((n, x) => n + x.text.length, 0);
    const text = textOf(r);
    assert.ok(
      text.length <= 1.3 * memoriesText + 300,
      `reply text ${text.length} for ${memoriesText} characters of memories`,
    );
  });

  it('snippet_chars cuts on a word boundary and says so', async () => {
    const r = await callOk(h, 'memory_search', { query: 'ingest pipeline', k: 3, snippet_chars: 40 });
    assert.equal(r.results.length, 3);
    for (const x of r.results) {
      assert.equal(x.truncated, true);
      assert.ok(x.text.length <= 41 && x.text.endsWith('…'), x.text);
      const whole = (await callOk(h, 'memory_get', { id: x.id })).memories[0]!.text;
      const kept = x.text.slice(0, -1);
      assert.ok(whole.startsWith(kept), 'a prefix of the text');
      assert.equal(whole[kept.length], ' ', `"${kept}" ends on a word boundary`);
    }
    const listed = await callOk(h, 'memory_list', { namespace: 'ops', limit: 2, snippet_chars: 30 });
    assert.ok(listed.memories.every((m) => m.truncated === true && m.text.length <= 31));
    const whole = await callOk(h, 'memory_list', { namespace: 'ops', limit: 1 });
    assert.equal(whole.memories[0]?.truncated, undefined, 'no cut unless asked');
  });

  it('does not pad results far below the best one', async () => {
    await callOk(h, 'memory_store', {
      items: [
        { text: 'The espresso machine on floor 3 needs descaling every Friday.', namespace: 'cut' },
        ...Array.from({ length: 12 }, (_, i) => ({
          text: `Unrelated filler about tax forms number ${i}.`,
          namespace: 'cut',
        })),
      ],
    });
    const r = await callOk(h, 'memory_search', { query: 'espresso machine descaling', namespace: 'cut', k: 10 });
    assert.ok(r.results.length >= 1);
    assert.match(r.results[0]!.text, /espresso/);
    assert.ok(r.results.length < 10, `${r.results.length} results: the filler is far below the best`);
  });
});
