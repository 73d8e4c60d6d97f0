// An offline, deterministic, *lexical* embedder: feature hashing of words, word pairs and
// character trigrams, with sublinear term weights, L2-normalized. It finds memories that
// share words (or word fragments) with the query. It does not know that "peanut allergy"
// and "allergic to nuts" mean the same: every reply says which provider answered.
import type { EmbeddingProvider } from './types.js';
import { normalize } from './types.js';

const VERSION = 'v1';
const WORD = /[\p{L}\p{N}]+/gu;

export interface HashProviderOptions {
  dimension?: number;
  maxInputChars?: number;
}

export class HashEmbeddingProvider implements EmbeddingProvider {
  readonly name = 'hash';
  readonly kind = 'lexical' as const;
  readonly model = `feature-hash-${VERSION}`;
  readonly maxBatchSize = 4096;
  readonly maxInputChars: number;
  readonly dimension: number;
  readonly fingerprint: string;

  constructor(options: HashProviderOptions = {}) {
    this.dimension = options.dimension ?? 384;
    this.maxInputChars = options.maxInputChars ?? 1_000_000;
    this.fingerprint = `hash:${this.model}:${this.dimension}`;
  }

  async init(): Promise<void> {}

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((t) => this.embedOne(t));
  }

  embedOne(text: string): Float32Array {
    const counts = new Map<string, number>();
    const bump = (feature: string, weight: number): void => {
      counts.set(feature, (counts.get(feature) ?? 0) + weight);
    };
    const words = text.toLowerCase().normalize('NFKC').match(WORD) ?? [];
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      bump(`w:${w}`, 1);
      if (i > 0) bump(`b:${words[i - 1]}_${w}`, 0.5);
      const padded = `#${w}#`;
      for (let j = 0; j + 3 <= padded.length; j++) bump(`c:${padded.slice(j, j + 3)}`, 0.25);
    }
    if (words.length === 0) {
      // Text without letters or digits (emoji, punctuation): use its characters.
      for (const ch of text.trim()) bump(`p:${ch}`, 1);
    }
    const v = new Float32Array(this.dimension);
    for (const [feature, count] of counts) {
      const h = fnv1a(feature);
      const sign = h & 1 ? 1 : -1;
      v[(h >>> 1) % this.dimension]! += sign * Math.log1p(count);
    }
    return normalize(v);
  }
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
