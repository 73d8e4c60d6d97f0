import { abortError } from './abort.js';
import { MemoryError } from './errors.js';

export interface LockWait {
  /** A section that has not started by then never runs; the call rejects with `timeoutError()`. */
  waitMs?: number | undefined;
  timeoutError?: (() => Error) | undefined;
  /** A section whose signal aborts before it started never runs; the call rejects with the reason. */
  signal?: AbortSignal | undefined;
}

/** Runs async critical sections one at a time, in call order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /** Sections queued or running. */
  get size(): number {
    return this.waiting;
  }

  run<T>(section: () => Promise<T> | T, wait: LockWait = {}): Promise<T> {
    const { waitMs, timeoutError, signal } = wait;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    this.waiting++;
    let dropped: Error | undefined;
    let rejectWait: ((err: Error) => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const drop = (err: Error) => {
      if (dropped) return;
      dropped = err;
      rejectWait?.(err);
    };
    const onAbort = () => drop(abortError(signal!));
    const stopWaiting = () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const result = this.tail.then(() => {
      stopWaiting();
      if (dropped) throw dropped;
      return section();
    });
    this.tail = result.then(
      () => this.waiting--,
      () => this.waiting--,
    );
    if (waitMs === undefined && signal === undefined) return result;
    if (waitMs !== undefined) {
      timer = setTimeout(
        () =>
          drop(
            timeoutError?.() ??
              new MemoryError('INDEX_UNAVAILABLE', `timed out after ${waitMs} ms waiting for the lock`),
          ),
        waitMs,
      );
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    // Whichever settles first: the section (which then ran) or the drop (the section then never runs).
    result.catch(() => undefined);
    return new Promise<T>((resolve, reject) => {
      rejectWait = reject;
      if (dropped) reject(dropped);
      result.then(resolve, reject);
    });
  }
}
