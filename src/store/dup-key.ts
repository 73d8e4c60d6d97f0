import { createHash } from 'node:crypto';

/**
 * The key under which two texts are the same memory: equal after trimming and collapsing
 * whitespace. A client that retries a store sends the same text; this finds the first one.
 */
export function dupKey(text: string): string {
  return createHash('sha256').update(text.trim().replace(/\s+/gu, ' '), 'utf8').digest('hex');
}
