import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FakeOpenAI } from './helpers/fake-openai.js';
import { startHarness, testConfig, textOf, type Harness } from './helpers/harness.js';
import { tempDir } from './helpers/tmp.js';
import { callOk, output } from './helpers/tool-call.js';
import { waitFor } from './helpers/wait.js';

describe('provider failures and model changes lose nothing', () => {
  let api: FakeOpenAI;
  let dir: ReturnType<typeof tempDir>;
  let h: Harness | undefined;
  const openaiEnv = (extra: Record<string, string> = {}) => api.env(32, extra);

  beforeEach(async () => {
    api = await new FakeOpenAI().start();
    dir = tempDir();
  });
  afterEach(async () => {
    await h?.close();
    h = undefined;
    await api.stop();
    dir.cleanup();
    assert.deepEqual(api.unexpected, []);
  });

  const ids = async (query: string) =>
    (await callOk(h!, 'memory_search', { query, mode: 'semantic' })).results.map((r) => r.id);

  it('keeps a memory stored while the provider fails as pending, and makes it searchable when it recovers', async () => {
    h = await startHarness(testConfig(dir.path, openaiEnv()));
    await h.app.service.ready();
    api.script.push({ kind: 'status', status: 503 });
    const r = await h.call('memory_store', { id: 'm1', text: 'the deploy key rotates every ninety days' });
    assert.equal(r.isError, undefined, textOf(r));
    assert.deepEqual(output('memory_store', r).items, [{ id: 'm1', status: 'created', embedding: 'pending' }]);
    assert.match(textOf(r), /not searchable by meaning yet.*503/);
    const got = await callOk(h, 'memory_get', { id: 'm1' });
    assert.equal(got.memories[0]!.embedding_status, 'pending');
    assert.match(got.memories[0]!.embedding_error ?? '', /503/);
    // Not embedded yet, but found by keyword at once (the default hybrid search).
    const hybrid = await callOk(h, 'memory_search', { query: 'deploy key' });
    assert.equal(hybrid.results[0]?.id, 'm1');
    assert.equal(hybrid.results[0]!.semantic, undefined);
    assert.equal(hybrid.results[0]!.keyword?.rank, 1);
    // The backfill job retries (kicked one second after the failed write).
    try {
      await waitFor(async () => (await ids('deploy key rotates')).includes('m1'), 10_000, 'm1 to become searchable');
    } catch (err) {
      process.stderr.write(`server log:\n${h.logs.join('\n')}\n`);
      throw err;
    }
    const status = await h.app.backfill.status();
    assert.equal(status.counts.pending, 0);
    assert.equal(status.counts.done, 1);
  });

  it('marks only the bad input failed, with the reason, and embeds the rest', async () => {
    h = await startHarness(testConfig(dir.path, openaiEnv()));
    await h.app.service.ready();
    api.maxInputChars = 50;
    const r = await h.call('memory_store', {
      items: [
        { id: 'short1', text: 'short note one' },
        { id: 'long', text: 'a very long note '.repeat(10) },
        { id: 'short2', text: 'short note two' },
      ],
    });
    assert.equal(r.isError, undefined, textOf(r));
    assert.match(textOf(r), /400/);
    await waitFor(
      async () => {
        const m = await callOk(h!, 'memory_get', { ids: ['short1', 'long', 'short2'] });
        return m.memories.every((x) => x.embedding_status !== 'pending');
      },
      10_000,
      'every memory to leave pending',
    );
    const m = await callOk(h, 'memory_get', { ids: ['short1', 'long', 'short2'] });
    const byId = new Map(m.memories.map((x) => [x.id, x]));
    assert.equal(byId.get('short1')!.embedding_status, 'done');
    assert.equal(byId.get('short2')!.embedding_status, 'done');
    assert.equal(byId.get('long')!.embedding_status, 'failed');
    assert.match(byId.get('long')!.embedding_error ?? '', /400.*context length/);
    assert.ok((await ids('short note')).includes('short1'));
  });

  it('re-embeds everything when the model changes, never mixing vector spaces', async () => {
    h = await startHarness(testConfig(dir.path));
    await h.call('memory_store', {
      items: Array.from({ length: 20 }, (_, i) => ({ id: `k${i}`, text: `knowledge item ${i} about gardening` })),
    });
    const before = await callOk(h, 'memory_search', { query: 'gardening' });
    assert.equal(before.provider?.name, 'hash');
    await h.close();

    h = await startHarness(testConfig(dir.path, openaiEnv()));
    await waitFor(async () => (await ids('gardening')).length === 10, 10_000, 're-embedded memories to be searchable');
    const after = await callOk(h, 'memory_search', { query: 'gardening', k: 50 });
    assert.equal(after.provider?.fingerprint, 'openai:text-embedding-3-small:32');
    assert.equal(after.results.length, 20);
    const embeddedTexts = api.requests.flatMap((r) => r.input);
    for (let i = 0; i < 20; i++) assert.ok(embeddedTexts.includes(`knowledge item ${i} about gardening`));
    const stats = await h.app.store.stats();
    assert.equal(stats.done, 20);
    assert.deepEqual(
      await h.app.store.embeddedIds('hash:feature-hash-v1:384'),
      [],
      'no vector of the old model remains',
    );
  });

  it('keeps answering from the previous model while re-embedding, then swaps and drops it', async () => {
    h = await startHarness(testConfig(dir.path));
    await h.call('memory_store', {
      items: [
        ...Array.from({ length: 20 }, (_, i) => ({ id: `k${i}`, text: `knowledge item ${i} about gardening` })),
        ...Array.from({ length: 10 }, (_, i) => ({ id: `c${i}`, text: `cooking recipe ${i} with lentils` })),
      ],
    });
    await h.close(); // writes the hash model's index snapshot

    // The new model's endpoint refuses batches (the backfill) but answers single texts (queries, one new memory).
    api.failIf = (input) => (input.length > 1 ? 503 : undefined);
    h = await startHarness(
      testConfig(dir.path, openaiEnv({ EMBEDDING_BREAKER_THRESHOLD: '1000', BACKFILL_INTERVAL_MS: '0' })),
    );
    await h.app.service.ready();
    const during = await callOk(h, 'memory_search', { query: 'gardening', k: 5 });
    assert.equal(during.provider?.fingerprint, 'openai:text-embedding-3-small:32');
    assert.deepEqual(
      { ...during.migration, done: undefined },
      {
        from: 'hash:feature-hash-v1:384',
        to: 'openai:text-embedding-3-small:32',
        done: undefined,
        total: 30,
        serving_previous: true,
      },
    );
    assert.equal(during.results.length, 5);
    assert.ok(
      during.results.every((r) => r.id.startsWith('k')),
      JSON.stringify(during.results),
    );
    // Written during the change: embedded by the new model only, found through the new index.
    await h.call('memory_store', { id: 'fresh', text: 'fresh note about gardening gloves' });
    assert.ok((await ids('gardening gloves')).includes('fresh'));
    // An edited memory's old vector no longer matches its text: the previous index must not
    // rank it for its old words (it would come first, with score 1, and again from the new index).
    await h.call('memory_update', { id: 'c0', text: 'now about bicycles entirely' });
    const oldWords = await ids('cooking recipe 0 with lentils');
    assert.notEqual(oldWords[0], 'c0', JSON.stringify(oldWords));
    const health = await callOk(h, 'index_health', {});
    assert.match(health.reasons.find((r) => r.code === 'model_migration')?.message ?? '', /previous model's index/);

    // The new model's endpoint down altogether: the previous model's index alone still answers.
    api.failIf = () => 503;
    const offline = await h.call('memory_search', { query: 'gardening', k: 3 });
    assert.equal(offline.isError, undefined, textOf(offline));
    assert.deepEqual(
      output('memory_search', offline).results.map((r) => r.id[0]),
      ['k', 'k', 'k'],
    );

    // The endpoint recovers: the backfill re-embeds everything, the previous index is dropped.
    api.failIf = undefined;
    await h.call('backfill_run', {});
    await waitFor(
      async () => (await callOk(h!, 'memory_search', { query: 'gardening' })).migration === undefined,
      20_000,
      'the model change to complete',
    );
    const after = await callOk(h, 'memory_search', { query: 'gardening', k: 50 });
    assert.equal(after.results.filter((r) => r.id.startsWith('k')).length, 20);
    assert.deepEqual(
      await h.app.store.embeddedIds('hash:feature-hash-v1:384'),
      [],
      'no vector of the old model remains',
    );
    const snapshots = readdirSync(join(dir.path, 'index')).filter((f) => f.endsWith('.snapshot'));
    assert.ok(
      snapshots.every((f) => f.startsWith('openai')),
      `old snapshot still there: ${snapshots.join(', ')}`,
    );
  });

  it('reports search as unavailable with a hint while the provider cannot be reached', async () => {
    h = await startHarness(testConfig(dir.path, openaiEnv()));
    await h.app.service.ready();
    await h.call('memory_store', { id: 'kept', text: 'anything worth keeping' });
    api.script.push({ kind: 'status', status: 401 });
    const r = await h.call('memory_search', { query: 'anything', mode: 'semantic' });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /401.*OPENAI_API_KEY/);
    // Hybrid (the default) answers from the keyword channel meanwhile, and says why.
    api.script.push({ kind: 'status', status: 401 });
    const hybrid = await h.call('memory_search', { query: 'anything' });
    const out = output('memory_search', hybrid);
    assert.deepEqual(
      out.results.map((x) => x.id),
      ['kept'],
    );
    assert.equal(out.provider, null, 'no provider label on scores it did not make');
    assert.match(out.notes?.join(' ') ?? '', /semantic channel unavailable.*401.*keyword results only/);
    assert.match(textOf(hybrid), /Note: semantic channel unavailable/);
    const ok = await h.call('memory_search', { query: 'anything' });
    assert.equal(ok.isError, undefined, 'the server kept running and answers the next call');
  });
});
