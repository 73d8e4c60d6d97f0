// Stops hammering an embedding provider that keeps failing. After `threshold` failed calls in
// a row the circuit opens: calls fail at once (stores then keep memories as pending, searches
// say why) until `cooldownMs` has passed; then one trial call goes through, and its success
// closes the circuit. Input errors (a text too long, HTTP 400/422) say nothing about the
// provider's health and are not counted.
import { z } from 'zod';
import { EmbeddingError, errorMessage } from '../shared/errors.js';
import type { EmbeddingProvider } from './types.js';

export const BreakerStatusSchema = z
  .object({
    state: z.enum(['closed', 'open', 'half_open']),
    consecutive_failures: z.number(),
    opened_at: z.string().nullable(),
    retry_at: z.string().nullable(),
    last_error: z.string().nullable(),
    times_opened: z.number(),
  })
  .describe('the circuit breaker that stops calls to a provider that keeps failing');
export type BreakerStatus = z.infer<typeof BreakerStatusSchema>;

export class CircuitBreakerProvider implements EmbeddingProvider {
  private state: BreakerStatus['state'] = 'closed';
  private failures = 0;
  private openedAt = 0;
  private lastError: string | null = null;
  private timesOpened = 0;
  private trialInFlight = false;

  constructor(
    private current: EmbeddingProvider,
    private readonly options: { threshold: number; cooldownMs: number; now?: () => number },
  ) {}

  get inner(): EmbeddingProvider {
    return this.current;
  }

  /** Puts another provider behind the breaker: only before anything has used this one. */
  use(provider: EmbeddingProvider): void {
    this.current = provider;
  }

  get unavailable(): string | undefined {
    return this.current.unavailable;
  }

  get name(): string {
    return this.inner.name;
  }
  get kind(): 'semantic' | 'lexical' {
    return this.inner.kind;
  }
  get model(): string {
    return this.inner.model;
  }
  get maxBatchSize(): number {
    return this.inner.maxBatchSize;
  }
  get maxInputChars(): number {
    return this.inner.maxInputChars;
  }
  get dimension(): number {
    return this.inner.dimension;
  }
  get fingerprint(): string {
    return this.inner.fingerprint;
  }

  init(signal?: AbortSignal): Promise<void> {
    // Once the dimension is known, init() calls nobody: it must not count as a success.
    if (this.knowsDimension()) return Promise.resolve();
    return this.guard(() => this.inner.init(signal), signal);
  }

  private knowsDimension(): boolean {
    try {
      return this.inner.dimension > 0;
    } catch {
      return false;
    }
  }

  embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    return this.guard(() => this.inner.embed(texts, signal), signal);
  }

  status(): BreakerStatus {
    const open = this.state !== 'closed';
    return {
      state: this.state,
      consecutive_failures: this.failures,
      opened_at: open ? new Date(this.openedAt).toISOString() : null,
      retry_at: this.state === 'open' ? new Date(this.openedAt + this.options.cooldownMs).toISOString() : null,
      last_error: this.lastError,
      times_opened: this.timesOpened,
    };
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private async guard<T>(call: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    let trial = false;
    if (this.state === 'open') {
      if (this.now() - this.openedAt < this.options.cooldownMs) throw this.refusal();
      this.state = 'half_open';
    }
    if (this.state === 'half_open') {
      if (this.trialInFlight) throw this.refusal();
      this.trialInFlight = true;
      trial = true;
    }
    try {
      const result = await call();
      this.state = 'closed';
      this.failures = 0;
      return result;
    } catch (err) {
      // A call its caller cancelled says nothing about the provider (a trial then stays undecided).
      if (signal?.aborted) throw err;
      if (counts(err)) {
        this.failures++;
        this.lastError = errorMessage(err);
        if (trial || this.failures >= this.options.threshold) {
          // Another call may have opened it while this one was waiting.
          if ((this.state as BreakerStatus['state']) !== 'open') this.timesOpened++;
          this.state = 'open';
          this.openedAt = this.now();
        }
      } else if (trial) {
        this.state = 'closed'; // the provider answered; the input was the problem
        this.failures = 0;
      }
      throw err;
    } finally {
      if (trial) this.trialInFlight = false;
    }
  }

  private refusal(): EmbeddingError {
    const wait = Math.max(0, Math.ceil((this.openedAt + this.options.cooldownMs - this.now()) / 1000));
    return new EmbeddingError(
      `the embedding provider is failing (${this.failures} errors in a row, last: ${this.lastError}); ` +
        `not calling it for ${wait} s (circuit breaker open)`,
      { permanent: false, hint: 'stored memories are kept as pending and embedded once the provider answers' },
    );
  }
}

function counts(err: unknown): boolean {
  if (
    err instanceof EmbeddingError &&
    err.permanent &&
    (err.status === undefined || err.status === 400 || err.status === 422)
  ) {
    return false;
  }
  return true;
}
