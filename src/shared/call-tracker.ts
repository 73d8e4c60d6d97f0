/**
 * Tool calls in flight, each with the controller that cancels it, so that shutdown can let
 * them finish for a bounded time and then cancel what is left.
 */
export class CallTracker {
  private readonly calls = new Set<AbortController>();
  private waiters: (() => void)[] = [];

  get size(): number {
    return this.calls.size;
  }

  /** Tracks `work` until it settles; `controller` cancels it (abortAll). */
  track<T>(work: Promise<T>, controller: AbortController): Promise<T> {
    this.calls.add(controller);
    const done = () => {
      this.calls.delete(controller);
      if (this.calls.size === 0) for (const w of this.waiters.splice(0)) w();
    };
    work.then(done, done);
    return work;
  }

  /** Resolves true when nothing is in flight, or false after `timeoutMs`. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.calls.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Cancels every call in flight with `reason`. */
  abortAll(reason: Error): void {
    for (const c of this.calls) c.abort(reason);
  }
}
