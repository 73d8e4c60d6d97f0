// How the backfill treats a failed embedding request, by what it says about whom:
// - input: this record's text was refused (HTTP 400/422, too long): isolate it and mark it
//   failed, with the reason; other records go on;
// - account: the key, credit or model is wrong (401/402/403/404): no record can succeed, so
//   the run ends with the reason and records stay pending until the configuration is fixed;
// - transient: rate limits, outages, timeouts (after the client's own retries): back off and
//   try again; a record that keeps failing while others succeed has its attempts counted.
import { EmbeddingError, MemoryError, errorMessage } from '../shared/errors.js';

export type FailureKind = 'input' | 'account' | 'transient';

const ACCOUNT_LEVEL = new Set([401, 402, 403, 404]);

export function failureKind(err: unknown): FailureKind {
  if (!(err instanceof EmbeddingError) || !err.permanent) return 'transient';
  return ACCOUNT_LEVEL.has(err.status ?? 0) ? 'account' : 'input';
}

/** Thrown to make the run back off and try again. */
export class TransientError extends Error {}

/** The error that ends a batch: TransientError (back off) or EMBEDDING_FAILED (the run ends). */
export function batchError(err: unknown): Error {
  if (failureKind(err) === 'transient') return new TransientError(errorMessage(err), { cause: err });
  const e = err as EmbeddingError;
  return new MemoryError('EMBEDDING_FAILED', e.message, {
    cause: e,
    ...(e.hint !== undefined ? { hint: e.hint } : {}),
  });
}
