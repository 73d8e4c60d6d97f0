import type { EmbeddingStatus, StoredVector } from './types.js';

/**
 * The embedding columns of a write: done with its vector, or pending (with the reason when an
 * attempt failed). An attempt counts when a vector was made or a provider call failed.
 */
export function embeddingColumns(
  embedding: StoredVector | null,
  embeddingError: string | undefined,
): { status: EmbeddingStatus; fingerprint: string | null; attempts: number; error: string | null } {
  return {
    status: embedding ? 'done' : 'pending',
    fingerprint: embedding?.fingerprint ?? null,
    attempts: embedding || embeddingError !== undefined ? 1 : 0,
    error: embeddingError ?? null,
  };
}
