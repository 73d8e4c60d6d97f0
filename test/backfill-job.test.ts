// The backfill run's paging, on a real SQLite store: pages go down the sequence from where the
// last one ended, and one page from the top at the end finds what was written during the run.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BackfillJob } from '../src/backfill/backfill-job.js';
import { HashEmbeddingProvider } from '../src/embeddings/hash-provider.js';
import { EmbeddingError } from '../src/shared/errors.js';
import { silentLogger } from '../src/shared/logger.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { tempDir } from './helpers/tmp.js';

const pending = (id: string) => ({
  id,
  namespace: 'default',
  text: `note ${id}`,
  metadata: {},
  tags: [],
  embedding: null,
});

describe('backfill run paging', () => {
  // 1,000 needing: pages found by status and sorted; 12,000: pages down the seq index from the cursor.
  for (const count of [1000, 12_000])
    it(`embeds memories stored while the run goes on, and retries a page after a passing failure (${count} memories)`, async () => {
      const dir = tempDir();
      const store = new SqliteStore(join(dir.path, 'm.db'));
      await store.open();
      await store.upsert(Array.from({ length: count }, (_, i) => pending(`m${i}`)));
      const embedder = new HashEmbeddingProvider();
      const embed = embedder.embed.bind(embedder);
      let calls = 0;
      // The third batch fails once, as a provider's 503 would.
      embedder.embed = async (texts: readonly string[]) => {
        calls += 1;
        if (calls === 3) throw new EmbeddingError('HTTP 503', { permanent: false, status: 503 });
        return embed(texts);
      };
      let pages = 0;
      const job = new BackfillJob({
        store,
        embedder,
        logger: silentLogger,
        batchSize: 100,
        concurrency: 2,
        intervalMs: 0,
        backoffMs: 1,
        // After the first page: memories stored meanwhile land above the run's cursor.
        onEmbedded: async () => {
          pages += 1;
          if (pages === 1) await store.upsert(Array.from({ length: 7 }, (_, i) => pending(`late${i}`)));
        },
      });
      const run = await job.run({ trigger: 'manual' }).done;
      assert.equal(run.outcome, 'completed');
      assert.equal(run.failed, 0);
      assert.equal(run.embedded, count + 7);
      assert.deepEqual((await store.listNeedingEmbedding(embedder.fingerprint, 10)).records, []);
      const late = await store.get(Array.from({ length: 7 }, (_, i) => `late${i}`));
      assert.deepEqual(
        late.map((r) => r.embedding.status),
        Array(7).fill('done'),
      );
      await store.close();
      dir.cleanup();
    });

  it('lists own memories below the cursor only, newest first', async () => {
    const dir = tempDir();
    const store = new SqliteStore(join(dir.path, 'm.db'));
    await store.open();
    await store.upsert(Array.from({ length: 50 }, (_, i) => pending(`m${i}`)));
    const all = (await store.listNeedingEmbedding('fp', 100)).records;
    assert.equal(all.length, 50);
    const cursor = all[9]!.seq;
    const below = (await store.listNeedingEmbedding('fp', 100, {}, { seq: cursor })).records;
    assert.deepEqual(
      below.map((r) => r.id),
      all.slice(10).map((r) => r.id),
    );
    await store.close();
    dir.cleanup();
  });
});
