// The memory service without MCP: its input rules, its write flow (embed, commit, catch up) and
// its search flow, on a real SQLite store, real providers and a real index.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { limitsFromConfig } from '../src/config/limits.js';
import { HashEmbeddingProvider } from '../src/embeddings/hash-provider.js';
import { OpenAIEmbeddingProvider } from '../src/embeddings/openai-provider.js';
import type { EmbeddingProvider } from '../src/embeddings/types.js';
import { MemoryService } from '../src/memory/memory-service.js';
import { MemoryError } from '../src/shared/errors.js';
import { silentLogger } from '../src/shared/logger.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { FakeOpenAI } from './helpers/fake-openai.js';
import { testConfig } from './helpers/harness.js';
import { testIndexManager } from './helpers/index-manager.js';
import { tempDir } from './helpers/tmp.js';
import { waitFor } from './helpers/wait.js';

describe('memory service', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  let service: MemoryService;
  let pendingCalls = 0;

  const make = (embedder: EmbeddingProvider, env: Record<string, string> = {}) =>
    new MemoryService({
      store,
      embedder,
      limits: limitsFromConfig(testConfig(dir.path, env)),
      logger: silentLogger,
      createIndex: (e) => testIndexManager(store, e.fingerprint, e.dimension, join(dir.path, 'index')),
      onPending: () => pendingCalls++,
    });
  const code = async (work: Promise<unknown>): Promise<string> => {
    try {
      await work;
      return 'ok';
    } catch (err) {
      return err instanceof MemoryError ? err.code : String(err);
    }
  };

  beforeEach(async () => {
    dir = tempDir();
    store = new SqliteStore(join(dir.path, 'memories.db'));
    await store.open();
    pendingCalls = 0;
    service = make(new HashEmbeddingProvider());
  });
  afterEach(async () => {
    await service.close();
    await store.close();
    dir.cleanup();
  });

  it('refuses bad input by field, before anything is written', async () => {
    const cases: [Promise<unknown>, string, RegExp][] = [
      [service.storeMemories([]), 'INVALID_INPUT', /nothing to store/],
      [service.storeMemories([{ text: '   ' }]), 'INVALID_INPUT', /text is empty/],
      [service.storeMemories([{ text: 'x'.repeat(32_001) }]), 'TOO_LARGE', /32001 characters; the limit is 32000/],
      [service.storeMemories([{ text: 'a', id: ' padded ' }]), 'INVALID_INPUT', /without surrounding spaces/],
      [service.storeMemories([{ text: 'a', namespace: 'no spaces allowed' }]), 'INVALID_INPUT', /namespace/],
      [service.storeMemories([{ text: 'a', tags: [''] }]), 'INVALID_INPUT', /each tag/],
      [service.storeMemories([{ text: 'a', metadata: { big: 'x'.repeat(20_000) } }]), 'TOO_LARGE', /metadata/],
      [
        service.storeMemories([
          { text: 'a', id: 'same' },
          { text: 'b', id: 'same' },
        ]),
        'INVALID_INPUT',
        /items\[1\]: id "same" appears twice/,
      ],
      [service.search({ query: 'x', k: 0 }), 'INVALID_INPUT', /k must be a whole number from 1 to 100/],
      [service.search({ query: '  ' }), 'INVALID_INPUT', /query is empty/],
      [service.get([]), 'INVALID_INPUT', /no ids given/],
      [service.update({ id: 'a' }), 'INVALID_INPUT', /nothing to update/],
    ];
    for (const [work, expected, message] of cases) {
      await assert.rejects(
        work,
        (err: unknown) => err instanceof MemoryError && err.code === expected && message.test(err.message),
      );
    }
    assert.equal((await store.stats()).total, 0);
    assert.equal(await code(service.update({ id: 'nobody', text: 'x' })), 'NOT_FOUND');
  });

  it('stores, finds, updates (re-embedding only a changed text) and deletes, the index caught up each time', async () => {
    await service.ready();
    const stored = await service.storeMemories([
      { id: 'peanuts', text: 'the user is allergic to peanuts', tags: ['health', 'health'] },
      { id: 'hopper', text: 'the build server is called hopper', namespace: 'infra' },
    ]);
    assert.deepEqual(
      stored.items.map((i) => [i.id, i.status, i.embedding]),
      [
        ['peanuts', 'created', 'done'],
        ['hopper', 'created', 'done'],
      ],
    );
    assert.deepEqual((await store.get(['peanuts']))[0]!.tags, ['health'], 'tags deduplicated');
    const found = await service.search({ query: 'allergic to peanuts', k: 1 });
    assert.equal(found.hits[0]?.record.id, 'peanuts');
    assert.equal((await service.search({ query: 'build server', namespace: 'infra' })).hits.length, 1);

    const same = await service.update({ id: 'peanuts', text: 'the user is allergic to peanuts', tags: ['food'] });
    assert.equal(same.reembedded, false, 'same text: no new embedding');
    const changed = await service.update({ id: 'hopper', text: 'the build server moved to grace' });
    assert.equal(changed.reembedded, true);
    assert.equal((await service.search({ query: 'grace build server', k: 1 })).hits[0]?.record.id, 'hopper');

    assert.deepEqual(await service.delete(['hopper', 'ghost']), { deleted: ['hopper'], missing: ['ghost'] });
    assert.equal(service.openIndex!.liveCount, 1);
  });

  it('refuses stores past MEMORY_MAX_MEMORIES, saying which limit', async () => {
    await service.close();
    service = make(new HashEmbeddingProvider(), { MEMORY_MAX_MEMORIES: '2' });
    await service.storeMemories([{ text: 'one' }, { text: 'two' }]);
    await assert.rejects(
      service.storeMemories([{ text: 'three' }]),
      /holds 2 memories; 1 more would pass the limit of 2/,
    );
  });

  describe('with an OpenAI-compatible provider', () => {
    let api: FakeOpenAI;
    beforeEach(async () => {
      api = await new FakeOpenAI().start();
      await service.close();
      service = make(
        new OpenAIEmbeddingProvider({
          model: 'm',
          baseURL: api.url,
          apiKey: 'sk',
          dimensions: 8,
          maxRetries: 0,
          timeoutMs: 5000,
        }),
      );
    });
    afterEach(async () => {
      await api.stop();
    });

    it('keeps a memory as pending when the provider fails, and says why', async () => {
      api.script.push({ kind: 'status', status: 503 });
      const r = await service.storeMemories([{ id: 'later', text: 'embedded later' }]);
      assert.deepEqual(r.items, [{ id: 'later', status: 'created', embedding: 'pending' }]);
      assert.match(r.embeddingError ?? '', /503/);
      assert.equal((await store.get(['later']))[0]?.embedding.status, 'pending');
      assert.equal(pendingCalls, 1, 'the backfill is asked to run');
    });

    it('a store cancelled while embedding closes the request and writes nothing', async () => {
      api.script.push({ kind: 'hang' });
      const controller = new AbortController();
      const work = service.storeMemories([{ id: 'cancelled', text: 'never written' }], { signal: controller.signal });
      await waitFor(() => api.requests.length === 1, 3000, 'the embedding request');
      controller.abort(new MemoryError('TIMEOUT', 'cancelled by the test'));
      await assert.rejects(work, /cancelled by the test/);
      await waitFor(() => api.abandoned === 1, 3000, 'the request to be closed');
      assert.equal((await store.stats()).total, 0, 'nothing written, not even as pending');
      assert.equal(pendingCalls, 0);
    });
  });
});
