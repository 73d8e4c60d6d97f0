// Embeds memories that have no embedding from the configured provider: those stored while
// the provider was failing, and those embedded by another model (a model change). Runs in
// the background, one batch at a time, newest first; transient failures back off, permanent
// ones (bad input, bad key) mark the memory failed with the reason.
//
// This is the foundation's minimal job; the backfill issue grows it (status tool, FalkorDB
// nodes written by other tools, CLI).
import type { EmbeddingProvider } from './embeddings/types.js';
import { EmbeddingError, errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import type { MemoryStore } from './store/types.js';

export interface EmbeddingWorkerOptions {
  store: MemoryStore;
  embedder: EmbeddingProvider;
  logger: Logger;
  /** Called after a batch was stored, so the index can catch up. */
  onEmbedded?: () => Promise<void>;
  /** Progress and failures, for log notifications to clients. */
  onEvent?: (level: 'info' | 'warning', data: Record<string, unknown>) => void;
  batchSize?: number;
  maxAttempts?: number;
  /** First retry delay after a transient failure; doubles up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export interface WorkerStatus {
  running: boolean;
  embedded: number;
  failed: number;
  lastError: string | null;
  lastRunAt: string | null;
}

export class EmbeddingWorker {
  private readonly o: Required<Omit<EmbeddingWorkerOptions, 'onEmbedded' | 'onEvent'>> &
    Pick<EmbeddingWorkerOptions, 'onEmbedded' | 'onEvent'>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private backoff = 0;
  private stopped = false;
  private readonly status: WorkerStatus = { running: false, embedded: 0, failed: 0, lastError: null, lastRunAt: null };

  constructor(options: EmbeddingWorkerOptions) {
    this.o = { batchSize: 64, maxAttempts: 8, backoffMs: 2000, maxBackoffMs: 300_000, ...options };
  }

  getStatus(): WorkerStatus {
    return { ...this.status };
  }

  /** Schedules a run soon (debounced); safe to call often. */
  kick(delayMs = 0): void {
    if (this.stopped || this.timer || this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runOnce();
    }, delayMs);
    this.timer.unref();
  }

  /** Works until nothing is left, or the provider fails transiently (then retries later). */
  runOnce(): Promise<void> {
    this.running ??= this.work().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async work(): Promise<void> {
    const { store, embedder, logger } = this.o;
    this.status.running = true;
    this.status.lastRunAt = new Date().toISOString();
    try {
      await embedder.init();
      const failedThisRun = new Set<string>();
      while (!this.stopped) {
        const batch = (await store.listNeedingEmbedding(embedder.fingerprint, this.o.batchSize)).filter(
          (r) => !failedThisRun.has(r.id),
        );
        if (batch.length === 0) break;
        try {
          const vectors = await embedder.embed(batch.map((r) => r.text));
          for (const [i, r] of batch.entries()) {
            const ok = await store.setEmbedding(
              r.id,
              r.contentHash,
              { vector: vectors[i]!, fingerprint: embedder.fingerprint },
              r.origin,
            );
            if (ok) this.status.embedded++;
          }
          this.backoff = 0;
          await this.o.onEmbedded?.();
          this.o.onEvent?.('info', { message: `embedded ${batch.length} memories`, total: this.status.embedded });
        } catch (err) {
          if (err instanceof EmbeddingError && err.permanent && batch.length > 1) {
            // One bad input fails the whole request: retry one by one to find it.
            for (const r of batch) await this.embedOne(r.id, r.text, r.contentHash, failedThisRun);
            await this.o.onEmbedded?.();
            continue;
          }
          if (err instanceof EmbeddingError && err.permanent) {
            await this.embedOne(batch[0]!.id, batch[0]!.text, batch[0]!.contentHash, failedThisRun);
            continue;
          }
          throw err;
        }
      }
      this.status.lastError = null;
    } catch (err) {
      this.status.lastError = errorMessage(err);
      this.backoff = Math.min(this.o.maxBackoffMs, this.backoff ? this.backoff * 2 : this.o.backoffMs);
      logger.warn('background embedding paused after a provider failure', {
        error: this.status.lastError,
        retryInMs: this.backoff,
      });
      this.o.onEvent?.('warning', {
        message: 'background embedding paused after a provider failure',
        error: this.status.lastError,
        retry_in_ms: this.backoff,
      });
      this.status.running = false;
      this.kick(this.backoff);
      return;
    }
    this.status.running = false;
  }

  private async embedOne(id: string, text: string, hash: string, failed: Set<string>): Promise<void> {
    const { store, embedder } = this.o;
    try {
      const [vector] = (await embedder.embed([text])) as [Float32Array];
      if (await store.setEmbedding(id, hash, { vector, fingerprint: embedder.fingerprint })) this.status.embedded++;
    } catch (err) {
      if (!(err instanceof EmbeddingError) || !err.permanent) throw err;
      failed.add(id);
      this.status.failed++;
      await store.recordEmbeddingFailure(id, hash, {
        fingerprint: embedder.fingerprint,
        error: errorMessage(err),
        permanent: true,
        maxAttempts: this.o.maxAttempts,
      });
    }
  }
}
