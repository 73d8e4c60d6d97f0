// The backfill job: embeds every record that lacks an embedding from the configured model:
// memories stored while the provider was failing, memories embedded by another model, and in
// FalkorDB nodes written by other tools. Newest first, in batches sized for the provider, a
// bounded number of requests in flight.
//
// Failures:
// - bad input (HTTP 400/422): the batch is retried one record at a time to find the culprit,
//   which is marked failed with the reason (retried only when its text or the model changes);
// - account or configuration (401/402/403/404): the run stops with the reason; records are left
//   pending, to be embedded once the key or model is fixed;
// - transient (429/5xx/timeouts, after the client's own retries honouring retry-after): the run
//   backs off exponentially and tries again; a record that keeps failing while others succeed
//   has its attempts counted and is marked failed after `maxAttempts`.
//
// All progress is in the store (a record is done once its vector is written), so a run that is
// killed resumes where it stopped without redoing finished records.
import { randomUUID } from 'node:crypto';
import type { BreakerStatus } from '../embeddings/circuit-breaker.js';
import type { EmbeddingProvider } from '../embeddings/types.js';
import { sleep } from '../shared/abort.js';
import type { BackfillFailure, BackfillRun, BackfillStatus, BackfillTrigger } from './backfill-schemas.js';
import { errorMessage } from '../shared/errors.js';
import { TransientError, batchError, failureKind } from './failures.js';
import type { Logger } from '../shared/logger.js';
import type {
  BackfillScope,
  ForeignCount,
  ListingCursor,
  ListingPage,
  MemoryRecord,
  MemoryStore,
} from '../store/types.js';

export type {
  BackfillFailure,
  BackfillOutcome,
  BackfillRun,
  BackfillStatus,
  BackfillTrigger,
} from './backfill-schemas.js';

export interface BackfillOptions {
  store: MemoryStore;
  embedder: EmbeddingProvider;
  logger: Logger;
  /** After records were written: lets the search index catch up. */
  onEmbedded?: () => Promise<void>;
  /** Progress and failures, as log notifications for clients. */
  onEvent?: (level: 'info' | 'warning' | 'error', data: Record<string, unknown>) => void;
  /** State of the provider's circuit breaker, for the status. */
  circuit?: () => BreakerStatus;
  batchSize?: number;
  concurrency?: number;
  maxAttempts?: number;
  /** 0 disables the timer; runs then happen on demand, after failed writes and at start. */
  intervalMs?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Transient failures in a row, with nothing embedded in between, before a run gives up. */
  maxConsecutiveFailures?: number;
}

export interface RunRequest {
  trigger: BackfillTrigger;
  scope?: BackfillScope;
  limit?: number | undefined;
  onProgress?: (run: BackfillRun) => void | Promise<void>;
}

const RECENT_FAILURES = 20;

export class BackfillJob {
  private readonly o: Required<Omit<BackfillOptions, 'onEmbedded' | 'onEvent' | 'circuit'>> &
    Pick<BackfillOptions, 'onEmbedded' | 'onEvent' | 'circuit'>;
  private current: { run: BackfillRun; done: Promise<BackfillRun> } | undefined;
  private last: BackfillRun | null = null;
  /** Records of the runs that ended, since start (the /metrics counter adds the run in progress). */
  private readonly ended = { embedded: 0, failed: 0, skipped: 0 };
  private readonly failures: BackfillFailure[] = [];
  private interval: NodeJS.Timeout | undefined;
  private kickTimer: NodeJS.Timeout | undefined;
  private nextRunAt: number | null = null;
  private stopped = false;
  /** Aborted by stop(): ends a backoff sleep and the provider requests in flight at once. */
  private readonly stopping = new AbortController();
  private readonly progressListeners = new Set<(run: BackfillRun) => void | Promise<void>>();

  constructor(options: BackfillOptions) {
    this.o = {
      batchSize: 64,
      concurrency: 2,
      maxAttempts: 8,
      intervalMs: 60_000,
      backoffMs: 1000,
      maxBackoffMs: 60_000,
      maxConsecutiveFailures: 5,
      ...options,
    };
    this.o.batchSize = Math.max(1, Math.min(this.o.batchSize, options.embedder.maxBatchSize));
  }

  /** Starts the interval timer (when configured). */
  start(): void {
    if (this.stopped || this.interval || this.o.intervalMs <= 0) return;
    this.nextRunAt = Date.now() + this.o.intervalMs;
    this.interval = setInterval(() => {
      this.nextRunAt = Date.now() + this.o.intervalMs;
      if (!this.current) this.run({ trigger: 'interval' });
    }, this.o.intervalMs);
    this.interval.unref();
  }

  /** Asks for a run soon (debounced); used after writes that left records pending. */
  kick(delayMs = 0, trigger: BackfillTrigger = 'write'): void {
    if (this.stopped || this.kickTimer) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = undefined;
      if (!this.current) this.run({ trigger });
      else void this.current.done.then(() => this.kick(0, trigger));
    }, delayMs);
    this.kickTimer.unref();
  }

  /** Starts a run, or joins the one in progress. */
  run(request: RunRequest): { run: BackfillRun; joined: boolean; done: Promise<BackfillRun> } {
    if (request.onProgress) this.progressListeners.add(request.onProgress);
    const forget = () => {
      if (request.onProgress) this.progressListeners.delete(request.onProgress);
    };
    if (this.current) {
      void this.current.done.finally(forget);
      return { run: this.current.run, joined: true, done: this.current.done };
    }
    const run: BackfillRun = {
      id: randomUUID(),
      trigger: request.trigger,
      scope: { ...request.scope, ...(request.limit !== undefined ? { limit: request.limit } : {}) },
      started_at: new Date().toISOString(),
      ended_at: null,
      outcome: 'running',
      error: null,
      planned: 0,
      embedded: 0,
      failed: 0,
      skipped: 0,
      in_progress: 0,
      current_batch: null,
      throughput_per_s: null,
      eta_s: null,
    };
    const done = this.execute(run, request)
      .catch((err: unknown) => {
        run.outcome = 'failed';
        run.error = errorMessage(err);
      })
      .then(() => {
        run.ended_at = new Date().toISOString();
        run.in_progress = 0;
        run.current_batch = null;
        run.eta_s = null;
        this.last = { ...run };
        this.current = undefined;
        this.ended.embedded += run.embedded;
        this.ended.failed += run.failed;
        this.ended.skipped += run.skipped;
        const level = run.outcome === 'failed' ? 'warning' : 'info';
        this.o.logger[run.outcome === 'failed' ? 'warn' : 'info']('backfill run ended', { ...summary(run) });
        if (run.embedded > 0 || run.failed > 0 || run.outcome === 'failed') {
          this.o.onEvent?.(level, { message: 'backfill run ended', ...summary(run) });
        }
        forget();
        return { ...run };
      });
    this.current = { run, done };
    return { run, joined: false, done };
  }

  /** Records processed since start, by outcome (ended runs and the one in progress); never decreases. */
  processed(): { embedded: number; failed: number; skipped: number; running: boolean } {
    const run = this.current?.run;
    return {
      embedded: this.ended.embedded + (run?.embedded ?? 0),
      failed: this.ended.failed + (run?.failed ?? 0),
      skipped: this.ended.skipped + (run?.skipped ?? 0),
      running: run !== undefined,
    };
  }

  async status(): Promise<BackfillStatus> {
    let fingerprint: string | null;
    try {
      fingerprint = this.o.embedder.fingerprint;
    } catch {
      fingerprint = null; // the provider has not told us its dimension yet
    }
    const byNamespace = fingerprint ? await this.o.store.embeddingCounts(fingerprint) : [];
    const byGraphLabel = fingerprint && this.o.store.foreign ? await this.o.store.foreign.counts(fingerprint) : null;
    const inProgress = this.current?.run.in_progress ?? 0;
    const foreign = foreignTotals(byGraphLabel);
    const sum = (k: 'pending' | 'done' | 'failed') => byNamespace.reduce((a, c) => a + c[k], 0) + foreign[k];
    return {
      state: this.current ? 'running' : 'idle',
      provider: {
        name: this.o.embedder.name,
        model: this.o.embedder.model,
        fingerprint,
        circuit: this.o.circuit?.() ?? null,
      },
      counts: {
        pending: Math.max(0, sum('pending') - inProgress),
        in_progress: inProgress,
        done: sum('done'),
        failed: sum('failed'),
        by_namespace: byNamespace,
        by_graph_label: byGraphLabel,
      },
      current: this.current ? { ...this.current.run } : null,
      last: this.last,
      recent_failures: [...this.failures],
      next_run_at: this.nextRunAt && this.interval ? new Date(this.nextRunAt).toISOString() : null,
    };
  }

  /** Stops timers and waits for the run in progress to stop after its current batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort(new Error('the backfill job is stopping'));
    if (this.interval) clearInterval(this.interval);
    if (this.kickTimer) clearTimeout(this.kickTimer);
    this.interval = undefined;
    this.kickTimer = undefined;
    await this.current?.done;
  }

  // ------------------------------------------------------------------ the run

  private async execute(run: BackfillRun, request: RunRequest): Promise<void> {
    const { store, embedder, logger } = this.o;
    const scope = request.scope ?? {};
    const limit = request.limit;
    await embedder.init(this.stopping.signal);
    const fingerprint = embedder.fingerprint;
    if (store.foreign) {
      const r = await store.foreign.reconcile(fingerprint);
      if (r.removed + r.changed + r.adopted > 0) logger.info('backfill: reconciled nodes of other tools', r);
      if (r.removed + r.changed + r.adopted > 0) await this.o.onEmbedded?.();
    }
    run.planned = await this.countPlanned(fingerprint, scope, limit);
    logger.info('backfill run started', { id: run.id, trigger: run.trigger, planned: run.planned, scope });
    const started = Date.now();
    const skip = new Set<string>();
    let consecutive = 0;
    let lastError: unknown;
    // Pages go down from where the last one ended (own memories by sequence: those embedded
    // meanwhile moved to its top; nodes of other tools by node id, per graph); when nothing is
    // left below, one page from the top again finds what was written during the run, and the run
    // completes only when that page is empty.
    let cursor: ListingCursor | undefined;

    while (!this.stopped) {
      const processed = run.embedded + run.failed;
      const want = Math.min(
        this.o.batchSize * this.o.concurrency,
        limit !== undefined ? limit - processed : Number.POSITIVE_INFINITY,
      );
      if (want <= 0) {
        run.outcome = 'limit_reached';
        return;
      }
      const listed = await store.listNeedingEmbedding(fingerprint, want + skip.size, scope, cursor);
      const page = listed.records.filter((r) => !skip.has(r.id)).slice(0, want);
      if (page.length === 0) {
        if (cursor !== undefined) {
          cursor = undefined;
          continue;
        }
        run.outcome = 'completed';
        return;
      }
      const next = below(cursor, page, listed);
      const batches: MemoryRecord[][] = [];
      for (let i = 0; i < page.length; i += this.o.batchSize) batches.push(page.slice(i, i + this.o.batchSize));
      run.in_progress = page.length;
      run.current_batch = { size: batches[0]!.length, started_at: new Date().toISOString() };
      const before = run.embedded;
      const results = await Promise.allSettled(
        batches.map((b) => this.embedBatch(run, b, fingerprint, skip, consecutive >= 3 && run.embedded > 0)),
      );
      run.in_progress = 0;
      run.current_batch = null;
      if (run.embedded > before) await this.o.onEmbedded?.();
      this.updateRates(run, started);
      await this.emitProgress(run);
      if (this.stopped) break; // a request cut short by stop() is not a provider failure

      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (!failure) {
        consecutive = 0;
        cursor = next; // (after a failure the same page is tried again)
        continue;
      }
      const err: unknown = failure.reason;
      if (!(err instanceof TransientError)) throw err;
      lastError = err;
      consecutive = run.embedded > before ? 1 : consecutive + 1;
      if (consecutive >= this.o.maxConsecutiveFailures) {
        throw new Error(`the embedding provider keeps failing: ${errorMessage(lastError)}`);
      }
      const wait = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** (consecutive - 1));
      logger.warn('backfill backing off after a provider failure', { error: errorMessage(err), waitMs: wait });
      this.o.onEvent?.('warning', { message: 'backfill backing off', error: errorMessage(err), wait_ms: wait });
      try {
        await sleep(wait, this.stopping.signal);
      } catch {
        break; // stop() ended the sleep
      }
    }
    run.outcome = 'stopped';
  }

  /** Embeds one batch and writes the vectors. Throws TransientError to make the run back off. */
  private async embedBatch(
    run: BackfillRun,
    batch: MemoryRecord[],
    fingerprint: string,
    skip: Set<string>,
    isolate: boolean,
  ): Promise<void> {
    if (isolate && batch.length > 1) {
      // The provider works for other records but this batch kept failing: find the culprits.
      for (const r of batch) await this.embedOne(run, r, fingerprint, skip, true);
      return;
    }
    let vectors: Float32Array[];
    try {
      vectors = await this.o.embedder.embed(
        batch.map((r) => r.text),
        this.stopping.signal,
      );
    } catch (err) {
      if (this.stopped) throw err;
      if (failureKind(err) === 'input') {
        for (const r of batch) await this.embedOne(run, r, fingerprint, skip, false);
        return;
      }
      throw batchError(err);
    }
    await this.write(run, batch, vectors, fingerprint);
  }

  private async embedOne(
    run: BackfillRun,
    r: MemoryRecord,
    fingerprint: string,
    skip: Set<string>,
    countTransient: boolean,
  ): Promise<void> {
    try {
      const [vector] = (await this.o.embedder.embed([r.text], this.stopping.signal)) as [Float32Array];
      await this.write(run, [r], [vector], fingerprint);
    } catch (err) {
      if (this.stopped) throw err;
      const kind = failureKind(err);
      if (kind === 'account' || (kind === 'transient' && !countTransient)) throw batchError(err);
      const permanent = kind === 'input';
      skip.add(r.id);
      await this.o.store.recordEmbeddingFailure(
        r.id,
        r.contentHash,
        { fingerprint, error: errorMessage(err), permanent, maxAttempts: this.o.maxAttempts },
        r.origin,
      );
      if (permanent || r.embedding.attempts + 1 >= this.o.maxAttempts) run.failed++;
      this.remember({
        id: r.id,
        namespace: r.namespace,
        error: errorMessage(err),
        permanent,
        at: new Date().toISOString(),
      });
    }
  }

  private async write(run: BackfillRun, batch: MemoryRecord[], vectors: Float32Array[], fingerprint: string) {
    const stored = await this.o.store.setEmbeddings(
      batch.map((r, i) => ({
        id: r.id,
        contentHash: r.contentHash,
        vector: { vector: vectors[i]!, fingerprint },
        origin: r.origin,
      })),
    );
    for (const ok of stored) {
      if (ok) run.embedded++;
      else run.skipped++;
    }
  }

  private remember(f: BackfillFailure): void {
    this.failures.unshift(f);
    this.failures.length = Math.min(this.failures.length, RECENT_FAILURES);
    this.o.onEvent?.(f.permanent ? 'error' : 'warning', { message: 'backfill could not embed a record', ...f });
  }

  private async countPlanned(fingerprint: string, scope: BackfillScope, limit: number | undefined): Promise<number> {
    const own = (await this.o.store.embeddingCounts(fingerprint))
      .filter((c) => scope.namespace === undefined || c.namespace === scope.namespace)
      .reduce((a, c) => a + c.pending, 0);
    let foreign = 0;
    if (this.o.store.foreign) {
      const rows = (await this.o.store.foreign.counts(fingerprint)).filter(
        (c) =>
          (scope.graph === undefined || c.graph === scope.graph) &&
          (scope.namespace === undefined || c.graph === scope.namespace) &&
          (scope.label === undefined || c.label === scope.label),
      );
      foreign = foreignTotals(rows).pending;
    }
    // Graph and label scopes name nodes written by other tools.
    const ownCounts = scope.label === undefined && scope.graph === undefined ? own : 0;
    const total = ownCounts + foreign;
    return limit !== undefined ? Math.min(limit, total) : total;
  }

  private updateRates(run: BackfillRun, started: number): void {
    const seconds = (Date.now() - started) / 1000;
    const processed = run.embedded + run.failed;
    run.throughput_per_s = seconds > 0 ? round(processed / seconds) : null;
    const left = Math.max(0, run.planned - processed);
    run.eta_s = run.throughput_per_s && run.throughput_per_s > 0 ? round(left / run.throughput_per_s) : null;
  }

  private async emitProgress(run: BackfillRun): Promise<void> {
    for (const l of this.progressListeners) {
      try {
        await l({ ...run });
      } catch {
        // A listener (a client's progress stream) going away must not stop the run.
      }
    }
  }
}

/**
 * The cursor after a page: below its lowest own memory and, per graph, its lowest node; a graph
 * listed to its bottom is done for this descent unless the page left some of its nodes out.
 */
function below(cursor: ListingCursor | undefined, page: MemoryRecord[], listed: ListingPage): ListingCursor {
  let seq = cursor?.seq;
  const nodes: Record<string, number> = { ...cursor?.nodes };
  for (const r of page) {
    if (r.origin) nodes[r.origin.graph] = Math.min(nodes[r.origin.graph] ?? Infinity, r.origin.nodeId);
    else seq = Math.min(seq ?? Infinity, r.seq);
  }
  const taken = new Set(page.map((r) => r.id));
  const leftOut = new Set(listed.records.filter((r) => r.origin && !taken.has(r.id)).map((r) => r.origin!.graph));
  for (const g of listed.walked) if (!leftOut.has(g)) nodes[g] = 0;
  return { seq, nodes };
}

function foreignTotals(rows: ForeignCount[] | null): { pending: number; done: number; failed: number } {
  const out = { pending: 0, done: 0, failed: 0 };
  for (const r of rows ?? []) {
    out.pending += r.pending;
    out.done += r.done;
    out.failed += r.failed;
  }
  return out;
}

function summary(run: BackfillRun): Record<string, unknown> {
  return {
    id: run.id,
    trigger: run.trigger,
    outcome: run.outcome,
    embedded: run.embedded,
    failed: run.failed,
    skipped: run.skipped,
    error: run.error,
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
