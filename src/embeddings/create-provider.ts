import type { Config } from '../config.js';
import { resolveProvider } from '../config.js';
import { HashEmbeddingProvider } from './hash-provider.js';
import { OpenAIEmbeddingProvider } from './openai-provider.js';
import type { EmbeddingProvider } from './types.js';

export function createEmbeddingProvider(config: Config): EmbeddingProvider {
  const which = resolveProvider(config);
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
