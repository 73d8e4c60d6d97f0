// Micro-batched search. Searches that arrive together (in one turn of the event loop, or while
// another batch waits for or holds the index) are answered by one batched FAISS call, which
// goes through BLAS: a batch of 100 costs about what 3 single searches cost. Each caller gets
// exactly its own results and k, waits at most its own limit for its batch to start, and
// leaves the queue when its signal aborts; a batch that started answers everyone in it.
import { abortError } from '../shared/abort.js';
import type { Hit } from './index-state.js';

export interface BatchRunner {
  /** Runs `section` with exclusive use of the index; rejects when it cannot start in time. */
  exclusive(section: () => Promise<void>): Promise<void>;
  /** First step of every batch, inside the section: catch up with the store. */
  prepare(): Promise<void>;
  /** One FAISS call for every query of the batch. */
  search(queries: readonly Float32Array[], k: number): Promise<Hit[][]>;
  /** How long a caller may wait for its batch to start, and the error it then gets. */
  bounded(): { waitMs: number; timeoutError: () => Error };
}

interface Entry {
  queries: readonly Float32Array[];
  k: number;
  resolve: (hits: Hit[][]) => void;
  reject: (err: unknown) => void;
  state: 'queued' | 'started' | 'left';
  release: () => void;
}

export class SearchBatcher {
  private queue: Entry[] = [];
  private draining = false;
  /** Callers answered, and the batches (FAISS calls) that answered them. */
  calls = 0;
  batches = 0;

  constructor(private readonly runner: BatchRunner) {}

  /** Callers waiting for a batch to start. */
  get size(): number {
    return this.queue.length;
  }

  search(queries: readonly Float32Array[], k: number, signal?: AbortSignal): Promise<Hit[][]> {
    if (queries.length === 0) return Promise.resolve([]);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const { waitMs, timeoutError } = this.runner.bounded();
    return new Promise<Hit[][]>((resolve, reject) => {
      const entry: Entry = { queries, k, resolve, reject, state: 'queued', release: () => undefined };
      const leave = (err: Error) => {
        if (entry.state !== 'queued') return;
        entry.state = 'left';
        entry.release();
        const at = this.queue.indexOf(entry);
        if (at >= 0) this.queue.splice(at, 1);
        reject(err);
      };
      const timer = setTimeout(() => leave(timeoutError()), waitMs);
      const onAbort = () => leave(abortError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.release = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      this.queue.push(entry);
      if (this.draining) return;
      this.draining = true;
      setImmediate(() => void this.drain());
    });
  }

  /** Answers queued searches batch by batch until the queue is empty; never leaves a caller waiting. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        let batch = this.queue.splice(0);
        try {
          await this.runner.exclusive(async () => {
            batch = start(batch);
            if (batch.length === 0) return;
            await this.runner.prepare();
            // Searches that arrived while we caught up join this batch.
            batch = [...batch, ...start(this.queue.splice(0))];
            this.calls += batch.length;
            this.batches++;
            const results = await this.runner.search(
              batch.flatMap((b) => b.queries),
              Math.max(...batch.map((b) => b.k)),
            );
            let at = 0;
            for (const b of batch) {
              const mine = results.slice(at, at + b.queries.length);
              at += b.queries.length;
              b.resolve(mine.map((hits) => (hits.length > b.k ? hits.slice(0, b.k) : hits)));
            }
          });
        } catch (err) {
          // Settling twice is harmless: callers already answered keep their results.
          for (const b of batch) {
            b.release();
            b.reject(err);
          }
        }
      }
    } finally {
      this.draining = false;
    }
  }
}

/** The entries still waiting start now: their wait limits and signals no longer apply. */
function start(entries: Entry[]): Entry[] {
  return entries.filter((e) => {
    if (e.state !== 'queued') return false;
    e.state = 'started';
    e.release();
    return true;
  });
}
