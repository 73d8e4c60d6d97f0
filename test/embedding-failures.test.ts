import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FakeOpenAI } from './helpers/fake-openai.js';
import { startHarness, testConfig, textOf, type Harness } from './helpers/harness.js';
import { tempDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

type SearchOut = { results: { id: string }[]; provider: { name: string; fingerprint: string } };

describe('provider failures and model changes lose nothing', () => {
  let api: FakeOpenAI;
  let dir: ReturnType<typeof tempDir>;
  let h: Harness | undefined;
  const openaiEnv = () => api.env(32);

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
    (((await h!.call('memory_search', { query })).structuredContent as SearchOut).results ?? []).map((r) => r.id);

  it('keeps a memory stored while the provider fails as pending, and makes it searchable when it recovers', async () => {
    h = await startHarness(testConfig(dir.path, openaiEnv()));
    await h.app.service.ready();
    api.script.push({ kind: 'status', status: 503 });
    const r = await h.call('memory_store', { id: 'm1', text: 'the deploy key rotates every ninety days' });
    assert.equal(r.isError, undefined, textOf(r));
    assert.deepEqual((r.structuredContent as { items: unknown[] }).items, [
      { id: 'm1', status: 'created', embedding: 'pending' },
    ]);
    assert.match(textOf(r), /not searchable yet.*503/);
    const got = (await h.call('memory_get', { id: 'm1' })).structuredContent as {
      memories: { embedding_status: string; embedding_error: string }[];
    };
    assert.equal(got.memories[0]!.embedding_status, 'pending');
    assert.match(got.memories[0]!.embedding_error, /503/);
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
        const m = (await h!.call('memory_get', { ids: ['short1', 'long', 'short2'] })).structuredContent as {
          memories: { id: string; embedding_status: string }[];
        };
        return m.memories.every((x) => x.embedding_status !== 'pending');
      },
      10_000,
      'every memory to leave pending',
    );
    const m = (await h.call('memory_get', { ids: ['short1', 'long', 'short2'] })).structuredContent as {
      memories: { id: string; embedding_status: string; embedding_error: string | null }[];
    };
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
    const before = (await h.call('memory_search', { query: 'gardening' })).structuredContent as SearchOut;
    assert.equal(before.provider.name, 'hash');
    await h.close();

    h = await startHarness(testConfig(dir.path, openaiEnv()));
    await waitFor(async () => (await ids('gardening')).length === 10, 10_000, 're-embedded memories to be searchable');
    const after = (await h.call('memory_search', { query: 'gardening', k: 50 })).structuredContent as SearchOut;
    assert.equal(after.provider.fingerprint, 'openai:text-embedding-3-small:32');
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

  it('reports search as unavailable with a hint while the provider cannot be reached', async () => {
    h = await startHarness(testConfig(dir.path, openaiEnv()));
    await h.app.service.ready();
    api.script.push({ kind: 'status', status: 401 });
    const r = await h.call('memory_search', { query: 'anything' });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /401.*OPENAI_API_KEY/);
    const ok = await h.call('memory_search', { query: 'anything' });
    assert.equal(ok.isError, undefined, 'the server kept running and answers the next call');
  });
});
