import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HashEmbeddingProvider } from '../src/embeddings/hash-provider.js';

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('hash provider', () => {
  const p = new HashEmbeddingProvider();

  it('is deterministic, normalized and of the configured dimension', async () => {
    const [a, b] = await p.embed(['The cat sat on the mat', 'The cat sat on the mat']);
    assert.deepEqual([...a!], [...b!]);
    assert.equal(a!.length, 384);
    assert.ok(Math.abs(dot(a!, a!) - 1) < 1e-5);
    assert.equal(new HashEmbeddingProvider({ dimension: 64 }).embedOne('x').length, 64);
    assert.equal(p.fingerprint, 'hash:feature-hash-v1:384');
  });

  it('scores texts sharing words above unrelated texts, and word forms above nothing', () => {
    const q = p.embedOne('peanut allergy');
    const related = p.embedOne('The user is allergic to peanuts');
    const unrelated = p.embedOne('Project Apollo ships in March');
    assert.ok(dot(q, related) > dot(q, unrelated) + 0.1, `${dot(q, related)} vs ${dot(q, unrelated)}`);
  });

  it('gives text without letters a non-zero vector', () => {
    const v = p.embedOne('🎉 !!!');
    assert.ok(Math.abs(dot(v, v) - 1) < 1e-5);
  });

  it('says it is lexical', () => {
    assert.equal(p.kind, 'lexical');
  });
});
