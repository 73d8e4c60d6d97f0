// Cancellation as a value that travels: one AbortSignal per tool call (the client's
// notifications/cancelled and MEMORY_TOOL_TIMEOUT_MS combined) reaches the provider request,
// the index queue and the waits in between.
import { MemoryError } from './errors.js';

/** The error a cancelled wait rejects with: the signal's reason when it is one, else a generic one. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new MemoryError('TIMEOUT', 'the request was cancelled', { hint: 'nothing was changed by the part not run' });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** Resolves after `ms`, or rejects at once when `signal` aborts (the timer is cleared). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Settles with `work`, or rejects when the deadline passes or `signal` aborts, whichever comes
 * first. The work itself is not stopped (pass the signal to it for that); its later rejection is
 * not left unhandled.
 */
export function withDeadline<T>(
  work: Promise<T>,
  options: { ms?: number | undefined; signal?: AbortSignal | undefined; timeoutError: () => Error },
): Promise<T> {
  const { ms, signal } = options;
  if (ms === undefined && signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      finish();
      reject(abortError(signal!));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (ms !== undefined) {
      timer = setTimeout(() => {
        finish();
        reject(options.timeoutError());
      }, ms);
    }
    work.then(
      (value) => {
        finish();
        resolve(value);
      },
      (err: unknown) => {
        finish();
        reject(err as Error);
      },
    );
  });
}
