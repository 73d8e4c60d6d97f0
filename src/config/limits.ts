import type { Config } from './settings.js';

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

/** Tags per memory, characters per tag and per id, results per search: fixed, named here once. */
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
