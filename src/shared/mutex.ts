import { MemoryError } from './errors.js';

/** Runs async critical sections one at a time, in call order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /** Sections queued or running. */
  get size(): number {
    return this.waiting;
  }

  /**
   * Queues `section`. With `waitMs`, a section that has not started by then is dropped (it
   * never runs) and the call rejects with `timeoutError()`.
   */
  run<T>(section: () => Promise<T> | T, options: { waitMs?: number; timeoutError?: () => Error } = {}): Promise<T> {
    this.waiting++;
    let expired = false;
    let timer: NodeJS.Timeout | undefined;
    const turn = this.tail.then(() => undefined);
    const result = turn.then(() => {
      if (timer) clearTimeout(timer);
      if (expired) throw options.timeoutError?.() ?? new Error('timed out waiting for the lock');
      return section();
    });
    this.tail = result.then(
      () => this.waiting--,
      () => this.waiting--,
    );
    if (options.waitMs === undefined) return result;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired = true;
        reject(
          options.timeoutError?.() ??
            new MemoryError('INDEX_UNAVAILABLE', `timed out after ${options.waitMs} ms waiting for the lock`),
        );
      }, options.waitMs);
    });
    // Whichever settles first: the section (which then ran) or the timeout (the section then never runs).
    result.catch(() => undefined);
    return Promise.race([result, timeout]);
  }
}
