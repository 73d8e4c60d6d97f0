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

/** JSON bytes of one UTF-16 unit, at worst: an escaped "\\u0001" takes six. */
const JSON_BYTES_PER_UNIT = 6;
/** The JSON-RPC envelope, tool name, argument names and punctuation around a batch. */
const ENVELOPE_BYTES = 64 * 1024;

/**
 * The largest message the server accepts: MEMORY_MAX_MESSAGE_BYTES, or else the JSON of the
 * largest memory_store batch the other limits allow (every item at its text, metadata, tag and
 * id limits, every character escaped), so a call inside the documented limits always fits.
 */
export function maxMessageBytes(config: Config): number {
  if (config.maxMessageBytes !== undefined) return config.maxMessageBytes;
  const l = limitsFromConfig(config);
  const item =
    l.maxTextChars * JSON_BYTES_PER_UNIT +
    l.maxMetadataBytes +
    l.maxTags * (l.maxTagChars * JSON_BYTES_PER_UNIT + 3) +
    l.maxIdChars * JSON_BYTES_PER_UNIT +
    256;
  return l.maxBatchItems * item + ENVELOPE_BYTES;
}

/** The largest HTTP body: MEMORY_HTTP_MAX_BODY_BYTES, or else the message limit. */
export function maxBodyBytes(config: Config): number {
  return config.maxBodyBytes ?? maxMessageBytes(config);
}
