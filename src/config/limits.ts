import type { Config } from './config.js';

/** The limits the service enforces on every input, taken from config. */
export interface Limits {
  maxTextChars: number;
  maxMetadataBytes: number;
  maxBatchItems: number;
  maxTags: number;
  maxTagChars: number;
  maxIdChars: number;
  maxK: number;
  maxMemories: number;
  maxIndexBytes: number;
}

export function limitsFromConfig(config: Config): Limits {
  return {
    maxTextChars: config.maxTextChars,
    maxMetadataBytes: config.maxMetadataBytes,
    maxBatchItems: config.maxBatchItems,
    maxTags: 64,
    maxTagChars: 128,
    maxIdChars: 256,
    maxK: 100,
    maxMemories: config.maxMemories,
    maxIndexBytes: config.maxIndexBytes,
  };
}

export const DEFAULT_LIMITS: Limits = {
  maxTextChars: 32_000,
  maxMetadataBytes: 16_384,
  maxBatchItems: 256,
  maxTags: 64,
  maxTagChars: 128,
  maxIdChars: 256,
  maxK: 100,
  maxMemories: 1_000_000,
  maxIndexBytes: 4 * 1024 ** 3,
};
