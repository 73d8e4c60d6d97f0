// Typed errors with a stable code. Tool handlers turn them into `isError` results whose
// text says what the caller can do; anything else is reported as an internal error.

export type ErrorCode =
  | 'INVALID_INPUT'
  | 'NOT_FOUND'
  | 'TOO_LARGE'
  | 'EMBEDDING_FAILED'
  | 'EMBEDDING_UNAVAILABLE'
  | 'INDEX_UNAVAILABLE'
  | 'STORE_FAILED'
  | 'CONFIG_INVALID'
  | 'TIMEOUT'
  | 'INTERNAL';

export class MemoryError extends Error {
  readonly code: ErrorCode;
  /** What the caller can do about it, shown to the model. */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; hint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MemoryError';
    this.code = code;
    this.hint = options.hint;
  }
}

export class EmbeddingError extends MemoryError {
  /** True when retrying the same input cannot succeed (bad input, bad key, no credit). */
  readonly permanent: boolean;
  readonly status: number | undefined;

  constructor(message: string, options: { cause?: unknown; hint?: string; permanent: boolean; status?: number }) {
    super('EMBEDDING_FAILED', message, options);
    this.name = 'EmbeddingError';
    this.permanent = options.permanent;
    this.status = options.status;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
