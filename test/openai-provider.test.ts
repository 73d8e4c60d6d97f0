import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { OpenAIEmbeddingProvider } from '../src/embeddings/openai-provider.js';
import { EmbeddingError } from '../src/shared/errors.js';
import { FakeOpenAI } from './helpers/fake-openai.js';

const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));

describe('openai provider (real openai client, local API server)', () => {
  let api: FakeOpenAI;
  beforeEach(async () => {
    api = await new FakeOpenAI().start();
  });
  afterEach(async () => {
    assert.deepEqual(api.unexpected, [], 'no request outside the embeddings API');
    await api.stop();
  });

  const provider = (opts: Partial<ConstructorParameters<typeof OpenAIEmbeddingProvider>[0]> = {}) =>
    new OpenAIEmbeddingProvider({ model: 'text-embedding-3-small', apiKey: 'sk-test', baseURL: api.url, ...opts });

  it('sends the key and model, batches inputs, and returns normalized vectors in input order', async () => {
    const p = provider({ dimensions: 32, batchSize: 4 });
    await p.init();
    const texts = Array.from({ length: 10 }, (_, i) => `memory number ${i}`);
    const vectors = await p.embed(texts);
    assert.equal(vectors.length, 10);
    assert.deepEqual(
      api.requests.map((r) => r.input.length),
      [4, 4, 2],
    );
    assert.equal(api.requests[0]!.authorization, 'Bearer sk-test');
    assert.equal(api.requests[0]!.model, 'text-embedding-3-small');
    for (const v of vectors) {
      assert.equal(v.length, 32);
      assert.ok(Math.abs(norm(v) - 1) < 1e-5);
    }
    // The order is kept: each vector equals a fresh single embedding of its own text.
    const [again] = await p.embed([texts[7]!]);
    assert.deepEqual([...again!], [...vectors[7]!]);
    assert.equal(p.fingerprint, 'openai:text-embedding-3-small:32');
  });

  it('sends `dimensions` for text-embedding-3 models only', async () => {
    await provider({ dimensions: 48 }).embed(['a']);
    assert.equal(api.requests.at(-1)!.dimensions, 48);
    const other = provider({ model: 'nomic-embed-text' });
    await other.init();
    assert.equal(api.requests.at(-1)!.dimensions, undefined);
    assert.equal(other.dimension, api.defaultDimension, 'an unknown model reveals its dimension on first use');
    assert.throws(() => provider({ model: 'text-embedding-ada-002', dimensions: 64 }), /only makes 1536/);
  });

  it('retries a 429, honouring retry-after, then succeeds', async () => {
    api.script.push({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const p = provider({ dimensions: 16, maxRetries: 2 });
    const started = Date.now();
    const [v] = await p.embed(['hello']);
    const elapsed = Date.now() - started;
    assert.equal(v!.length, 16);
    assert.equal(api.requests.length, 2);
    assert.ok(elapsed >= 900, `waited for retry-after (${elapsed} ms)`);
  });

  it('retries 5xx answers and gives up after maxRetries with a transient error', async () => {
    for (let i = 0; i < 3; i++) api.script.push({ kind: 'status', status: 503, headers: { 'retry-after-ms': '10' } });
    const err = await provider({ dimensions: 16, maxRetries: 2 })
      .embed(['x'])
      .catch((e: unknown) => e);
    assert.ok(err instanceof EmbeddingError);
    assert.equal(err.status, 503);
    assert.equal(err.permanent, false);
    assert.equal(api.requests.length, 3);
  });

  for (const status of [401, 402, 403]) {
    it(`fails fast on ${status}, without retrying, as a permanent error`, async () => {
      api.script.push({ kind: 'status', status });
      const err = await provider({ dimensions: 16, maxRetries: 4 })
        .embed(['x'])
        .catch((e: unknown) => e);
      assert.ok(err instanceof EmbeddingError);
      assert.equal(err.status, status);
      assert.equal(err.permanent, true);
      assert.equal(api.requests.length, 1, 'not retried');
      if (status === 401) assert.match(err.hint ?? '', /OPENAI_API_KEY/);
    });
  }

  it("reports the API's 400 for too-long input as permanent, and rejects over-long text before calling", async () => {
    api.maxInputChars = 100;
    const p = provider({ dimensions: 16, maxInputChars: 1000 });
    const err = await p.embed(['y'.repeat(500)]).catch((e: unknown) => e);
    assert.ok(err instanceof EmbeddingError);
    assert.equal(err.status, 400);
    assert.equal(err.permanent, true);
    const before = api.requests.length;
    const local = await p.embed(['z'.repeat(1001)]).catch((e: unknown) => e);
    assert.ok(local instanceof EmbeddingError);
    assert.match(local.message, /1001 characters/);
    assert.equal(api.requests.length, before, 'the too-long text was never sent');
  });

  it('bounds every request with a timeout', async () => {
    api.script.push({ kind: 'hang' });
    const started = Date.now();
    const err = await provider({ dimensions: 16, timeoutMs: 300, maxRetries: 0 })
      .embed(['slow'])
      .catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    assert.ok(err instanceof EmbeddingError);
    assert.match(err.message, /timed out/);
    assert.equal(err.permanent, false);
    assert.ok(elapsed < 3000, `gave up after ${elapsed} ms`);
  });

  it('reports an unreachable endpoint clearly', async () => {
    const p = new OpenAIEmbeddingProvider({
      model: 'm',
      baseURL: 'http://127.0.0.1:9/v1',
      dimensions: 8,
      maxRetries: 0,
      timeoutMs: 2000,
    });
    const err = await p.embed(['x']).catch((e: unknown) => e);
    assert.ok(err instanceof EmbeddingError);
    assert.match(err.message, /127\.0\.0\.1:9/);
    assert.equal(err.permanent, false);
  });
});
