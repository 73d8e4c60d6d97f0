// The search index is a cache of the store: an exact inner-product FAISS index plus our own
// label <-> memory-id map (faiss-node has no add_with_ids, and removing ids renumbers a flat
// index). The manager keeps it current by applying the store's change sequence, proves on
// open that it matches the store, repairs or rebuilds it from the store when it does not.
//
// Every FAISS call runs in the FAISS worker thread (faiss-host.ts), so none holds the event
// loop. Index work runs under one mutex, and every batch of changes is posted to the worker in
// one synchronous step (map and index change together), so a search never sees a half-applied
// write. A rebuild fills a new generation off to the side, without the lock, and swaps it in at
// the end: searches keep being served.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setImmediate as turn } from 'node:timers/promises';
import { basename, dirname, join } from 'node:path';
import { MemoryError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { MemoryStore } from '../store/types.js';
import { HostedIndex, type IndexShape } from './faiss/faiss-host.js';
import { MIN_POINTS_PER_LIST } from './faiss/faiss-limits.js';
import { IndexState, type Hit, type TrainingInfo } from './index-state.js';
import {
  DEFAULT_IVF_POLICY,
  nlistDrifted,
  planFor,
  retrainReason,
  retryAfterRefusal,
  type IvfPolicy,
} from './ivf/ivf-policy.js';
import { trainInWorker } from './ivf/ivf-train.js';
import { Mutex } from '../shared/mutex.js';
import { heldByAnother, tryLock } from './snapshot/persist-lock.js';
import {
  completeSnapshot,
  encodeHeader,
  openSnapshot,
  verifyIndexPart,
  type SnapshotHeader,
} from './snapshot/snapshot.js';

export type { Hit } from './index-state.js';

const PAGE = 1000;
/** Training-sample rows read per store query. */
const SAMPLE_PAGE = 250;
/** Ids compared between turns of the event loop when verifying. */
const VERIFY_STEP = 20_000;
/** Vectors per page of the exact side of recallAt10 (a page of 1000 x 384 x 32 queries is ~15 ms of JS). */
const RECALL_PAGE = 1000;
/** The most lists an IVF search may probe; beyond it exact search is the better deal. */
const MAX_NPROBE = 256;
/** recall@10 the tuning must reach above the floor. */
const TUNING_MARGIN = 0.02;
/**
 * Rebuild pages hold about 40,000 floats: faiss-node reads vectors element by element (~0.25 µs
 * per float), so one page's add holds the event loop ~10 ms (104 vectors at d = 384).
 */
const BUILD_PAGE_FLOATS = 40_000;
/** A snapshot write takes seconds even for large indexes; a lock older than this is a crashed holder's. */
const PERSIST_LOCK_STALE_MS = 10 * 60_000;

export interface IndexManagerOptions {
  store: MemoryStore;
  fingerprint: string;
  dimension: number;
  /** Folder for snapshot files (created on demand). */
  dir: string;
  logger: Logger;
  /** Delay between a change and the snapshot write; 0 writes only on close or persist(). */
  persistDelayMs?: number;
  /** Compact when tombstones exceed this share of the index and number at least compactMin. */
  compactRatio?: number;
  compactMin?: number;
  /** How long a search or catch-up waits for the index before failing with a clear error. */
  lockTimeoutMs?: number;
  /** When to use IVF instead of exact search, and the recall it must reach. */
  ivf?: Partial<IvfPolicy>;
  /**
   * Serve the snapshot as it is and never change it: the previous model's index during a model
   * change (its vectors are no longer in the store). Never catches up, persists or reshapes.
   */
  frozen?: boolean;
}

/** The last IVF training attempt, kept or refused. */
export interface TrainingAttempt {
  at: string;
  vectors: number;
  nlist: number;
  outcome: 'kept' | 'refused';
  /** Why the IVF index was refused (Flat kept), or why training was started. */
  reason: string;
  trainingSetSize: number;
  nprobe: number | null;
  curve: { nprobe: number; recall: number }[];
  trainMs: number;
  tuneMs: number;
}

export interface OpenReport {
  source: 'snapshot' | 'rebuilt';
  reason?: string;
  vectors: number;
  ms: number;
}

export interface VerifyReport {
  ok: boolean;
  /** The store kept changing while we compared; the result may be stale. */
  inconclusive: boolean;
  storeCount: number;
  indexCount: number;
  missingFromIndex: string[];
  notInStore: string[];
  missingCount: number;
  extraCount: number;
}

export interface SyncRepair {
  before: VerifyReport;
  added: number;
  dropped: number;
  after: VerifyReport;
}

export interface IndexStats {
  state: 'closed' | 'opening' | 'ready' | 'failed';
  type: IndexShape['type'];
  nlist: number | null;
  nprobe: number | null;
  trained: boolean;
  trainingSetSize: number | null;
  vectorsPerList: number | null;
  training: TrainingInfo | null;
  lastTrainingAttempt: TrainingAttempt | null;
  /** The index shape the collection size calls for, and why. */
  plan: string;
  /** A background rebuild is running (resize, retrain or IVF compaction), and why. */
  reshaping: string | null;
  fingerprint: string;
  dimension: number;
  vectors: number;
  live: number;
  tombstones: number;
  appliedSeq: number;
  lastPersistAt: string | null;
  lastPersistSeq: number | null;
  snapshotPath: string;
  snapshotBytes: number | null;
  /** Bytes the vectors take in memory (the id map comes on top). */
  memoryBytes: number;
  lastOpen: OpenReport | null;
  lastRebuild: { at: string; vectors: number; ms: number } | null;
  queued: number;
  compactions: number;
  /** Persists skipped because another process held the snapshot lock. */
  persistSkipped: number;
  /** search() calls answered, and the FAISS calls that answered them (micro-batching). */
  searchCalls: number;
  searchBatches: number;
  activity: string;
}

export class IndexManager {
  readonly fingerprint: string;
  readonly dimension: number;
  readonly snapshotPath: string;
  private readonly store: MemoryStore;
  private readonly logger: Logger;
  private readonly persistDelayMs: number;
  private readonly compact: { ratio: number; min: number };
  private readonly lock = new Mutex();
  private readonly lockTimeoutMs: number;
  /** What the index is doing, for error messages and health. */
  private activity = 'idle';

  private s: IndexState;
  private dirty = false;
  private state: IndexStats['state'] = 'closed';
  private persistTimer: NodeJS.Timeout | undefined;
  private lastPersist: { at: string; seq: number } | null = null;
  private lastOpen: OpenReport | null = null;
  private lastRebuild: IndexStats['lastRebuild'] = null;
  private persistSkipped = 0;
  private compactionsBefore = 0;
  private searchQueue: QueuedSearch[] = [];
  private draining = false;
  /** Snapshot writes in flight, in capture order. */
  private writeChain: Promise<void> = Promise.resolve();
  private searchCalls = 0;
  private searchBatches = 0;
  private readonly policy: IvfPolicy;
  readonly frozen: boolean;
  private lastAttempt: TrainingAttempt | null = null;
  /** A background rebuild in flight (only one at a time), and why it runs. */
  private rebuilding: { promise: Promise<{ vectors: number; ms: number }>; why: string } | null = null;

  constructor(options: IndexManagerOptions) {
    this.store = options.store;
    this.fingerprint = options.fingerprint;
    this.dimension = options.dimension;
    this.logger = options.logger;
    this.persistDelayMs = options.persistDelayMs ?? 5000;
    this.compact = { ratio: options.compactRatio ?? 0.25, min: options.compactMin ?? 1024 };
    this.lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
    this.policy = { ...DEFAULT_IVF_POLICY, ...options.ivf };
    this.frozen = options.frozen ?? false;
    this.snapshotPath = join(options.dir, `${slug(options.fingerprint)}.snapshot`);
    this.s = new IndexState(this.fingerprint, this.dimension);
  }

  /** Loads the snapshot, catches up with the store and proves they agree; otherwise rebuilds. */
  open(): Promise<OpenReport> {
    return this.lock.run(() =>
      this.doing('opening', async () => {
        const started = Date.now();
        this.state = 'opening';
        try {
          if (this.frozen) {
            const problem = await this.loadSnapshotLocked();
            if (problem !== undefined) throw new MemoryError('INDEX_UNAVAILABLE', `previous index: ${problem}`);
            this.state = 'ready';
            this.lastOpen = { source: 'snapshot', vectors: this.s.live, ms: Date.now() - started };
            return this.lastOpen;
          }
          removeStaleTemporaries(this.snapshotPath);
          let reason = await this.loadSnapshotLocked();
          if (reason === undefined) {
            await this.syncLocked();
            const check = await this.verifyLocked();
            if (!check.ok) {
              reason = `snapshot disagrees with the store (${check.missingCount} missing, ${check.extraCount} extra)`;
            }
          }
          if (reason !== undefined) {
            this.logger.warn('rebuilding the search index from the store', { reason });
            this.replace(await this.buildGeneration());
            this.dirty = true;
            await this.persistLocked();
          }
          this.state = 'ready';
          this.reshapeIfDue();
          const report: OpenReport = {
            source: reason === undefined ? 'snapshot' : 'rebuilt',
            ...(reason !== undefined ? { reason } : {}),
            vectors: this.s.live,
            ms: Date.now() - started,
          };
          this.lastOpen = report;
          return report;
        } catch (err) {
          this.state = 'failed';
          throw err;
        }
      }),
    );
  }

  /** Applies every store change committed before this call. */
  sync(): Promise<void> {
    if (this.frozen) return Promise.resolve();
    return this.lock.run(() => this.doing('catching up with the store', () => this.syncLocked()), this.bounded());
  }

  /**
   * Nearest live memories for each query, after catching up with the store. Searches that
   * arrive together (in the same turn of the event loop, or while another batch is waiting
   * for or holding the index) are answered by one batched FAISS call, which goes through BLAS:
   * at 100k vectors a batch of 100 costs about what 3 single searches cost. Each caller gets
   * exactly its own results.
   */
  search(queries: readonly Float32Array[], k: number): Promise<Hit[][]> {
    if (queries.length === 0) return Promise.resolve([]);
    // Checked per caller, so that one bad query cannot fail the batch it would join.
    const bad = queries.find((q) => q.length !== this.dimension);
    if (bad) {
      return Promise.reject(new RangeError(`query has dimension ${bad.length}, the index expects ${this.dimension}`));
    }
    const { waitMs, timeoutError } = this.bounded();
    return new Promise<Hit[][]>((resolve, reject) => {
      const entry: QueuedSearch = { queries, k, resolve, reject, state: 'queued' };
      // A caller waits at most waitMs for its batch to start (behind other batches, a slow
      // catch-up or a swap), then gets a clear error; a batch that started answers it.
      entry.timer = setTimeout(() => {
        if (entry.state !== 'queued') return;
        entry.state = 'expired';
        reject(timeoutError());
      }, waitMs);
      this.searchQueue.push(entry);
      if (this.draining) return;
      this.draining = true;
      setImmediate(() => void this.drainSearches());
    });
  }

  /** Answers queued searches batch by batch until the queue is empty; never leaves a caller waiting. */
  private async drainSearches(): Promise<void> {
    try {
      while (this.searchQueue.length > 0) {
        let batch = this.searchQueue.splice(0);
        try {
          await this.lock.run(
            () =>
              this.doing('searching', async () => {
                const start = (entries: QueuedSearch[]) =>
                  entries.filter((b) => {
                    if (b.state !== 'queued') return false;
                    b.state = 'started';
                    clearTimeout(b.timer);
                    return true;
                  });
                batch = start(batch);
                if (batch.length === 0) return;
                if (!this.frozen) await this.syncLocked();
                // Searches that arrived while we caught up join this batch.
                batch = [...batch, ...start(this.searchQueue.splice(0))];
                this.searchCalls += batch.length;
                this.searchBatches++;
                const results = await this.s.search(
                  batch.flatMap((b) => b.queries),
                  Math.max(...batch.map((b) => b.k)),
                );
                let at = 0;
                for (const b of batch) {
                  const mine = results.slice(at, at + b.queries.length);
                  at += b.queries.length;
                  b.resolve(mine.map((hits) => (hits.length > b.k ? hits.slice(0, b.k) : hits)));
                }
              }),
            this.bounded(),
          );
        } catch (err) {
          // Settling twice is harmless: callers already answered keep their results.
          for (const b of batch) {
            clearTimeout(b.timer);
            b.reject(err);
          }
        }
      }
    } finally {
      this.draining = false;
    }
  }

  verify(): Promise<VerifyReport> {
    return this.lock.run(() => this.doing('verifying', () => this.verifyLocked()), this.bounded());
  }

  /** Adds what the store has and the index lacks, drops what the store no longer has. */
  repairSync(dryRun: boolean): Promise<SyncRepair> {
    return this.lock.run(
      () =>
        this.doing('repairing', async () => {
          const before = await this.verifyLocked(true);
          if (dryRun) return { before: trim(before), added: 0, dropped: 0, after: trim(before) };
          let added = 0;
          for (let i = 0; i < before.missingFromIndex.length; i += PAGE) {
            const page = await this.store.vectorsOf(before.missingFromIndex.slice(i, i + PAGE), this.fingerprint);
            await this.s.add(page.map((v) => ({ id: v.id, vector: v.vector, hash: v.contentHash })));
            added += page.length;
          }
          for (const id of before.notInStore) this.s.tombstone(id);
          this.dirty = true;
          this.schedulePersist();
          const after = await this.verifyLocked();
          this.logger.info('search index repaired', { added, dropped: before.notInStore.length });
          return { before: trim(before), added, dropped: before.notInStore.length, after };
        }),
      this.bounded(),
    );
  }

  /**
   * Builds a new index from the store off to the side while searches keep using the current
   * one, then swaps it in (after catching it up with writes made meanwhile).
   */
  rebuild(
    onProgress?: (done: number, total: number) => void | Promise<void>,
    why = 'requested',
  ): Promise<{ vectors: number; ms: number }> {
    if (this.rebuilding) return this.rebuilding.promise;
    const promise = this.rebuildOnce(onProgress).finally(() => {
      this.rebuilding = null;
    });
    this.rebuilding = { promise, why };
    return promise;
  }

  private async rebuildOnce(
    onProgress?: (done: number, total: number) => void | Promise<void>,
  ): Promise<{ vectors: number; ms: number }> {
    const started = Date.now();
    this.activity = 'rebuilding from the store';
    try {
      const fresh = await this.buildGeneration(onProgress);
      try {
        await this.lock.run(async () => {
          for (;;) {
            const page = await this.store.changesSince(fresh.appliedSeq, PAGE);
            await fresh.apply(page.events, this.logger, this.compact);
            fresh.appliedSeq = page.toSeq;
            if (!page.more) break;
          }
          this.compactionsBefore += this.s.compactions;
          this.replace(fresh); // the swap: one assignment, no await
          this.dirty = true;
        });
      } catch (err) {
        if (this.s !== fresh) fresh.release();
        throw err;
      }
      this.schedulePersist();
      const ms = Date.now() - started;
      this.lastRebuild = { at: new Date().toISOString(), vectors: this.s.live, ms };
      this.logger.info('search index rebuilt from the store', { vectors: this.s.live, type: this.s.index.kind, ms });
      return { vectors: this.s.live, ms };
    } finally {
      this.activity = 'idle';
    }
  }

  /**
   * After changes: starts a background rebuild when the collection has outgrown its index shape
   * (Flat -> IVF past the threshold, IVF retrained when the right nlist drifted by more than
   * 25%, back to Flat far below the threshold) or an IVF generation carries too many tombstones.
   */
  private reshapeIfDue(): void {
    if (this.rebuilding || this.state !== 'ready') return;
    const shape = this.s.index.shape();
    let why = retrainReason(shape, this.s.live, this.dimension, this.policy);
    if (why && shape.type === 'Flat' && this.refusedNear(this.s.live)) why = undefined;
    if (!why && shape.type === 'IVF' && this.s.needsCompaction(this.compact)) {
      why = `${this.s.tombstones} deleted or replaced vectors in the IVF index`;
    }
    if (!why) return;
    this.logger.info('reshaping the search index in the background', { why });
    this.rebuild(undefined, why).catch((err: unknown) =>
      this.logger.error('background index rebuild failed', { why, error: errorMessage(err) }),
    );
  }

  /**
   * recall@10 of the index against exact search over the store's vectors (the source of
   * truth), on `sampleSize` stored vectors used as queries (each query's own memory left out).
   * The exact side streams the store page by page in JS, yielding between pages. A returned
   * memory counts as found when its exact score reaches the 10th exact score (ties are not
   * misses). A sound Flat index scores 1.0; a broken id map or a poor IVF index scores less.
   */
  async recallAt10(sampleSize: number): Promise<{ recall: number; sample: number }> {
    const K = 10;
    const picked = sample([...this.s.labels.keys()], sampleSize);
    const queries = await this.store.vectorsOf(picked, this.fingerprint);
    if (queries.length === 0 || this.s.live < 2) return { recall: 1, sample: 0 };
    const got = (
      await this.search(
        queries.map((q) => q.vector),
        K + 1,
      )
    ).map((hits, i) =>
      hits
        .filter((h) => h.id !== queries[i]!.id)
        .slice(0, K)
        .map((h) => h.id),
    );
    const wanted = got.map((ids) => new Set(ids));
    const exactTop = queries.map(() => [] as number[]); // best K exact scores, descending
    const scoreOf = queries.map(() => new Map<string, number>());
    const ids = await this.store.embeddedIds(this.fingerprint);
    for (let i = 0; i < ids.length; i += RECALL_PAGE) {
      for (const v of await this.store.vectorsOf(ids.slice(i, i + RECALL_PAGE), this.fingerprint)) {
        queries.forEach((q, qi) => {
          if (v.id === q.id) return;
          let dot = 0;
          for (let j = 0; j < v.vector.length; j++) dot += v.vector[j]! * q.vector[j]!;
          if (wanted[qi]!.has(v.id)) scoreOf[qi]!.set(v.id, dot);
          const top = exactTop[qi]!;
          if (top.length < K || dot > top[top.length - 1]!) {
            let at = top.length;
            while (at > 0 && top[at - 1]! < dot) at--;
            top.splice(at, 0, dot);
            if (top.length > K) top.pop();
          }
        });
      }
      await turn();
    }
    let found = 0;
    let possible = 0;
    queries.forEach((_, qi) => {
      const top = exactTop[qi]!;
      if (top.length === 0) return;
      const kth = top[top.length - 1]! - 1e-5;
      possible += top.length;
      for (const id of got[qi]!) if ((scoreOf[qi]!.get(id) ?? -Infinity) >= kth) found++;
    });
    return { recall: possible === 0 ? 1 : found / possible, sample: queries.length };
  }

  /** Writes the snapshot if anything changed since the last one (with `force`, even if not). */
  persist(options: { force?: boolean } = {}): Promise<void> {
    return this.lock
      .run(() =>
        this.doing('capturing its snapshot', async () => {
          if (options.force) this.dirty = true;
          return this.capturePersistLocked();
        }),
      )
      .then((write) => write?.());
  }

  /** Stops the persist timer and writes the snapshot if anything changed. */
  close(): Promise<void> {
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    return this.lock.run(async () => {
      if (this.state === 'ready' && !this.frozen) {
        // Writes acknowledged while the index was still opening are in the store, not yet here:
        // catch up first, so the snapshot left behind is current (a model change serves it).
        await this.syncLocked().catch((err: unknown) =>
          this.logger.warn('could not catch up before writing the snapshot', { error: errorMessage(err) }),
        );
        await this.persistLocked();
      }
      await this.writeChain; // writes started by the timer finish before we report closed
      this.state = 'closed';
      // The worker's memory goes back now; a manager is not searched after close.
      this.replace(new IndexState(this.fingerprint, this.dimension));
    });
  }

  /** Closes and deletes the snapshot: the previous model's index once a model change completed. */
  async discard(): Promise<void> {
    await this.close();
    rmSync(this.snapshotPath, { force: true });
  }

  get liveCount(): number {
    return this.s.live;
  }

  /** Vectors held, tombstones included (what the memory limit counts). */
  get vectorCount(): number {
    return this.s.index.size;
  }

  stats(): IndexStats {
    let snapshotBytes: number | null;
    try {
      snapshotBytes = statSync(this.snapshotPath).size;
    } catch {
      snapshotBytes = null;
    }
    const shape = this.s.index.shape();
    const plan = planFor(this.s.live, this.dimension, this.policy);
    return {
      state: this.state,
      type: shape.type,
      nlist: shape.nlist,
      nprobe: shape.nprobe,
      trained: shape.trained,
      trainingSetSize: this.s.training?.trainingSetSize ?? null,
      vectorsPerList: shape.nlist ? Math.round(this.s.index.size / shape.nlist) : null,
      training: this.s.training,
      lastTrainingAttempt: this.lastAttempt,
      plan: plan.why,
      reshaping: this.rebuilding?.why ?? null,
      fingerprint: this.fingerprint,
      dimension: this.dimension,
      vectors: this.s.index.size,
      live: this.s.live,
      tombstones: this.s.tombstones,
      appliedSeq: this.s.appliedSeq,
      lastPersistAt: this.lastPersist?.at ?? null,
      lastPersistSeq: this.lastPersist?.seq ?? null,
      snapshotPath: this.snapshotPath,
      snapshotBytes,
      memoryBytes: this.s.index.size * this.dimension * 4,
      lastOpen: this.lastOpen,
      lastRebuild: this.lastRebuild,
      queued: this.lock.size + this.searchQueue.length,
      compactions: this.compactionsBefore + this.s.compactions,
      persistSkipped: this.persistSkipped,
      searchCalls: this.searchCalls,
      searchBatches: this.searchBatches,
      activity: this.activity,
    };
  }

  /** Test hook: damages the id map as a bug or a bad restore would (a label pointing at another id). */
  corruptForTest(swaps: number): void {
    const live = [...this.s.labels.entries()];
    for (let i = 0; i + 1 < live.length && i < swaps * 2; i += 2) {
      const [a, la] = live[i]!;
      const [b, lb] = live[i + 1]!;
      this.s.ids[la] = b;
      this.s.ids[lb] = a;
    }
  }

  // ---- everything below runs under the lock, or on a generation nobody searches yet ----

  private bounded(): { waitMs: number; timeoutError: () => Error } {
    const busy = this.activity;
    return {
      waitMs: this.lockTimeoutMs,
      timeoutError: () =>
        new MemoryError(
          'INDEX_UNAVAILABLE',
          `the search index is busy (${busy === 'idle' ? this.activity : busy}); gave up after ${this.lockTimeoutMs} ms`,
          { hint: 'try again shortly; MEMORY_INDEX_TIMEOUT_MS sets the wait' },
        ),
    };
  }

  private async doing<T>(what: string, section: () => Promise<T>): Promise<T> {
    const before = this.activity;
    this.activity = before === 'idle' ? what : `${before}; ${what}`;
    try {
      return await section();
    } finally {
      this.activity = before;
    }
  }

  /**
   * Reads the whole store into a new generation: Flat, or IVF trained (in a child process) on
   * stored vectors when the collection is large enough. Awaits between pages, so it never
   * holds the loop long.
   */
  private async buildGeneration(
    onProgress?: (done: number, total: number) => void | Promise<void>,
  ): Promise<IndexState> {
    const { state: fresh, estimate: total } = await this.emptyGeneration();
    try {
      // One page in flight in the worker while the next is read from the store.
      let inFlight: Promise<void> = Promise.resolve();
      for (;;) {
        const page = await this.store.changesSince(
          fresh.appliedSeq,
          Math.max(16, Math.floor(BUILD_PAGE_FLOATS / this.dimension)),
        );
        const applied = fresh.apply(page.events, this.logger, this.compact);
        fresh.appliedSeq = page.toSeq;
        await inFlight;
        inFlight = applied;
        await onProgress?.(fresh.live, Math.max(total, fresh.live));
        if (!page.more) {
          await inFlight;
          return fresh;
        }
        // The store may answer synchronously (SQLite): give sockets and timers a turn between pages,
        // or the whole build would run as one stall.
        await turn();
      }
    } catch (err) {
      fresh.release();
      throw err;
    }
  }

  /** IVF training was refused at about this size already (not retried until the collection grows). */
  private refusedNear(vectors: number): boolean {
    const last = this.lastAttempt;
    return last?.outcome === 'refused' && !retryAfterRefusal(last.vectors, vectors);
  }

  /** The empty index a rebuild fills: what the plan calls for, reusing a trained IVF when it still fits. */
  private async emptyGeneration(): Promise<{ state: IndexState; estimate: number }> {
    // The plan needs an estimate only: ours when serving; when opening, the store's embedded ids,
    // listed in yielding pages (the store's counts are one synchronous scan: ~0.2-0.6 s at 1M here).
    // The ids are reused for the training sample.
    const ids = this.state === 'ready' ? undefined : await this.store.embeddedIds(this.fingerprint);
    const estimate = ids?.length ?? this.s.live;
    return { state: await this.emptyGenerationFor(estimate, ids), estimate };
  }

  private async emptyGenerationFor(estimate: number, ids: string[] | undefined): Promise<IndexState> {
    const plan = planFor(estimate, this.dimension, this.policy);
    const current = this.s;
    if (plan.type === 'Flat') return new IndexState(this.fingerprint, this.dimension);
    if (
      current.index.kind === 'IVF' &&
      current.emptyTrained &&
      current.training &&
      !nlistDrifted(current.training.nlist, plan.nlist)
    ) {
      const reused = new IndexState(
        this.fingerprint,
        this.dimension,
        await HostedIndex.fromBytes(current.emptyTrained, this.dimension, dirname(this.snapshotPath)),
      );
      reused.training = current.training;
      reused.emptyTrained = current.emptyTrained;
      return reused;
    }
    if (this.refusedNear(estimate)) return new IndexState(this.fingerprint, this.dimension);
    return (
      (await this.trainGeneration(
        ids ?? (await this.store.embeddedIds(this.fingerprint)),
        plan.nlist,
        plan.trainingPoints,
        plan.holdout,
      )) ?? new IndexState(this.fingerprint, this.dimension)
    );
  }

  /**
   * Trains IVF{nlist} on a random sample of distinct stored vectors, in a child process, and
   * picks the smallest nprobe reaching the recall floor on held-out stored vectors. Returns
   * undefined (Flat is kept, the reason recorded) when the data cannot make a sound IVF index.
   */
  private async trainGeneration(
    ids: string[],
    nlist: number,
    points: number,
    holdout: number,
  ): Promise<IndexState | undefined> {
    const want = Math.min(ids.length, points + holdout);
    const picked = sample(ids, want);
    const seen = new Set<string>();
    const rows: Float32Array[] = [];
    // Small pages: these are random reads (~60 µs a row at 1M), each page one synchronous query.
    for (let i = 0; i < picked.length; i += SAMPLE_PAGE) {
      for (const v of await this.store.vectorsOf(picked.slice(i, i + SAMPLE_PAGE), this.fingerprint)) {
        if (seen.has(v.contentHash)) continue; // never train on duplicates
        seen.add(v.contentHash);
        rows.push(v.vector);
      }
      await turn();
    }
    const attempt: TrainingAttempt = {
      at: new Date().toISOString(),
      vectors: ids.length,
      nlist,
      outcome: 'refused',
      reason: '',
      trainingSetSize: rows.length - holdout,
      nprobe: null,
      curve: [],
      trainMs: 0,
      tuneMs: 0,
    };
    this.lastAttempt = attempt;
    if (rows.length - holdout < MIN_POINTS_PER_LIST * nlist) {
      attempt.reason = `only ${rows.length} distinct stored vectors; IVF${nlist} needs ${MIN_POINTS_PER_LIST * nlist} to train plus ${holdout} to test`;
      this.logger.warn('keeping the exact index', { reason: attempt.reason });
      return undefined;
    }
    // A margin over the floor: recall measured later on other queries (index_health, a few dozen) scatters by about
    // ±0.01-0.02 around the tuning figure.
    const target = Math.min(1, this.policy.recallFloor + TUNING_MARGIN);
    try {
      this.logger.info('training an IVF index in a child process', { nlist, trainingSetSize: attempt.trainingSetSize });
      const result = await trainInWorker(
        { dimension: this.dimension, nlist, count: rows.length, holdout, targetRecall: target, maxNprobe: MAX_NPROBE },
        rows,
        dirname(this.snapshotPath),
      );
      Object.assign(attempt, {
        nprobe: result.nprobe,
        curve: result.curve,
        trainMs: result.trainMs,
        tuneMs: result.tuneMs,
      });
      if (result.nprobe === null) {
        const best = Math.max(...result.curve.map((c) => c.recall));
        attempt.reason = `IVF${nlist} reached recall@10 ${best.toFixed(3)} at most (nprobe up to ${Math.min(nlist, MAX_NPROBE)}), below ${target}`;
        this.logger.warn('IVF index refused, keeping the exact index', { reason: attempt.reason });
        return undefined;
      }
      const bytes = result.index;
      const state = new IndexState(
        this.fingerprint,
        this.dimension,
        await HostedIndex.fromBytes(bytes, this.dimension, dirname(this.snapshotPath)),
      );
      state.emptyTrained = bytes;
      state.training = {
        nlist,
        nprobe: result.nprobe,
        trainingSetSize: attempt.trainingSetSize,
        trainedAt: attempt.at,
        trainMs: Math.round(result.trainMs),
        tuneMs: Math.round(result.tuneMs),
        curve: result.curve,
      };
      attempt.outcome = 'kept';
      attempt.reason = `recall@10 ${result.curve[result.curve.length - 1]!.recall.toFixed(3)} at nprobe ${result.nprobe} on ${holdout} held-out stored vectors`;
      return state;
    } catch (err) {
      attempt.reason = `training failed: ${errorMessage(err)}`;
      this.logger.error('IVF training failed, keeping the exact index', { error: errorMessage(err) });
      return undefined;
    }
  }

  private async loadSnapshotLocked(): Promise<string | undefined> {
    if (!existsSync(this.snapshotPath)) return 'no snapshot file';
    try {
      const snap = await openSnapshot(this.snapshotPath);
      let restored: HostedIndex;
      try {
        const { header } = snap;
        if (header.fingerprint !== this.fingerprint || header.dimension !== this.dimension) {
          return `snapshot was made by ${header.fingerprint}, the provider is ${this.fingerprint}`;
        }
        await verifyIndexPart(snap);
        restored = await HostedIndex.readFile(snap.file, this.snapshotPath, this.dimension);
      } finally {
        await snap.file.close();
      }
      const problem = await this.adoptSnapshot(restored, snap.header);
      if (problem) restored.free();
      return problem;
    } catch (err) {
      this.replace(new IndexState(this.fingerprint, this.dimension));
      return `snapshot unreadable: ${errorMessage(err)}`;
    }
  }

  private async adoptSnapshot(restored: HostedIndex, header: SnapshotHeader): Promise<string | undefined> {
    if (restored.size !== header.count) {
      return `snapshot holds ${restored.size} vectors but its map has ${header.count}`;
    }
    const head = await this.store.headSeq();
    if (header.appliedSeq > head) {
      return `snapshot reflects change ${header.appliedSeq} but the store is at ${head} (store replaced?)`;
    }
    const state = new IndexState(this.fingerprint, this.dimension, restored);
    const problem = await state.restoreMap(header.ids, header.hashes, header.appliedSeq);
    if (problem) return problem;
    if (restored.kind === 'IVF') {
      if (!header.training || header.training.nlist !== restored.nlist)
        return 'IVF snapshot without its training record';
      state.training = header.training;
    }
    this.replace(state);
    this.lastPersist = { at: header.createdAt, seq: header.appliedSeq };
    return undefined;
  }

  private async syncLocked(): Promise<void> {
    for (;;) {
      const head = await this.store.headSeq();
      if (head === this.s.appliedSeq) return;
      if (head < this.s.appliedSeq) {
        this.logger.warn('the store is behind the index (store replaced?); rebuilding', {
          head,
          applied: this.s.appliedSeq,
        });
        this.replace(await this.buildGeneration());
        this.dirty = true;
        return;
      }
      const page = await this.store.changesSince(this.s.appliedSeq, PAGE);
      const applied = this.s.apply(page.events, this.logger, this.compact);
      this.s.appliedSeq = page.toSeq;
      await applied;
      this.dirty = true;
      this.schedulePersist();
      if (!page.more) {
        this.reshapeIfDue();
        return;
      }
    }
  }

  private async verifyLocked(full = false): Promise<VerifyReport> {
    let inconclusive = true;
    let storeIds: string[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      await this.syncLocked();
      const before = await this.store.headSeq();
      storeIds = await this.store.embeddedIds(this.fingerprint);
      const after = await this.store.headSeq();
      if (before === after && before === this.s.appliedSeq) {
        inconclusive = false;
        break;
      }
    }
    // Compared in steps with a turn of the event loop between them (in one go, 100k ids held the
    // loop ~60 ms here). Runs under the lock: the map does not change meanwhile.
    const inStore = new Set<string>();
    const missing: string[] = [];
    for (let i = 0; i < storeIds.length; i++) {
      const id = storeIds[i]!;
      inStore.add(id);
      if (!this.s.labels.has(id)) missing.push(id);
      if (i % VERIFY_STEP === VERIFY_STEP - 1) await turn();
    }
    const extraSet = new Set<string>();
    let n = 0;
    for (const [id, label] of this.s.labels) {
      // A label whose id no longer points back at it is a broken map entry: count it as extra.
      if (!inStore.has(id) || this.s.ids[label] !== id) extraSet.add(id);
      if (++n % VERIFY_STEP === 0) await turn();
    }
    const extra = [...extraSet];
    const held = await this.s.index.count();
    const sizeOk =
      this.s.broken === null && held === this.s.live + this.s.tombstones && this.s.ids.length === this.s.index.size;
    const report: VerifyReport = {
      ok: missing.length === 0 && extra.length === 0 && sizeOk,
      inconclusive,
      storeCount: storeIds.length,
      indexCount: this.s.live,
      missingFromIndex: missing,
      notInStore: extra,
      missingCount: missing.length,
      extraCount: extra.length,
    };
    return full ? report : trim(report);
  }

  /** Makes `next` the served generation and frees the one it replaces. */
  private replace(next: IndexState): void {
    if (next === this.s) return;
    this.s.release();
    this.s = next;
  }

  /** Another process holds the snapshot lock: ours stays dirty and is retried later. */
  private skipPersist(holder: unknown): void {
    this.logger.debug('another process is writing the index snapshot', { holder });
    this.persistSkipped++;
    this.schedulePersist();
  }

  private schedulePersist(): void {
    if (this.persistDelayMs <= 0 || this.persistTimer || this.state !== 'ready') return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      this.persist().catch((err: unknown) =>
        this.logger.error('could not write the index snapshot', { error: errorMessage(err) }),
      );
    }, this.persistDelayMs);
    this.persistTimer.unref();
  }

  private async persistLocked(): Promise<void> {
    await this.capturePersistLocked()?.();
  }

  /**
   * Captures the snapshot in one synchronous step, so it is consistent: a copy of the id map, and
   * the index write posted to the worker (which runs it after everything posted before). Returns
   * the job that encodes the header, hashes, completes and renames the file. The job runs
   * outside the lock, so searches are not held up by the disk; writes are chained, so they land
   * in capture order.
   */
  private capturePersistLocked(): (() => Promise<void>) | undefined {
    if (!this.dirty && existsSync(this.snapshotPath)) return undefined;
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    const lockPath = `${this.snapshotPath}.lock`;
    const holder = heldByAnother(lockPath, PERSIST_LOCK_STALE_MS);
    if (holder) {
      // Another process is writing the snapshot: do not have faiss write the whole index for
      // nothing. Ours stays dirty and is retried later (the job below still takes the lock).
      this.skipPersist(holder);
      return undefined;
    }
    const createdAt = new Date().toISOString();
    const seq = this.s.appliedSeq;
    const dir = dirname(this.snapshotPath);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.${basename(this.snapshotPath)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    // Captured together, with no await between: the header (the map as of now) and the index,
    // written by the worker after every request posted before this one.
    const header = encodeHeader({
      fingerprint: this.fingerprint,
      dimension: this.dimension,
      count: this.s.index.size,
      live: this.s.live,
      appliedSeq: seq,
      createdAt,
      ids: this.s.ids.slice(), // copies: the map changes after this step, and encoding takes turns
      hashes: this.s.hashes.slice(),
      training: this.s.training,
    });
    const written = this.s.index.writeFile(tmp);
    // Both awaited by the job below; never an unhandled rejection meanwhile.
    written.catch(() => undefined);
    header.catch(() => undefined);
    this.dirty = false;
    const failed = () => {
      this.dirty = true;
      this.schedulePersist();
    };
    return () => {
      const write = this.writeChain.then(async () => {
        let faissLength: number;
        try {
          faissLength = await written;
        } catch (err) {
          failed();
          throw err;
        }
        const lock = tryLock(lockPath, PERSIST_LOCK_STALE_MS);
        if (!lock.acquired) {
          await rm(tmp, { force: true });
          this.dirty = true;
          this.skipPersist(lock.holder);
          return;
        }
        try {
          await completeSnapshot(tmp, this.snapshotPath, faissLength, await header);
        } catch (err) {
          failed();
          throw err;
        } finally {
          lock.release();
        }
        this.lastPersist = { at: createdAt, seq };
      });
      this.writeChain = write.catch(() => undefined);
      return write;
    };
  }
}

interface QueuedSearch {
  queries: readonly Float32Array[];
  k: number;
  resolve: (hits: Hit[][]) => void;
  reject: (err: unknown) => void;
  state: 'queued' | 'started' | 'expired';
  timer?: NodeJS.Timeout;
}

/** A uniform random sample without replacement (partial Fisher-Yates on a copy). */
function sample<T>(items: readonly T[], n: number): T[] {
  const a = [...items];
  const m = Math.min(n, a.length);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(Math.random() * (a.length - i));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, m);
}

function trim(r: VerifyReport): VerifyReport {
  return { ...r, missingFromIndex: r.missingFromIndex.slice(0, 20), notInStore: r.notInStore.slice(0, 20) };
}

/** Temporary files left by a write that was killed halfway. */
function removeStaleTemporaries(snapshotPath: string): void {
  const dir = dirname(snapshotPath);
  if (!existsSync(dir)) return;
  // Snapshot writes (".<file>.<pid>.<rand>.tmp") and IVF training files (".train-<pid>.<rand>.*.tmp").
  const prefixes = [`.${snapshotPath.slice(dir.length + 1)}.`, '.train-'];
  for (const f of readdirSync(dir)) {
    const prefix = prefixes.find((p) => f.startsWith(p));
    if (prefix === undefined || !f.endsWith('.tmp')) continue;
    const pid = Number(f.slice(prefix.length).split('.')[0]);
    let alive: boolean;
    try {
      process.kill(pid, 0);
      alive = pid !== process.pid;
    } catch {
      alive = false; // no such process: its temporary file is garbage
    }
    if (!alive) rmSync(join(dir, f), { force: true });
  }
}

function slug(fingerprint: string): string {
  return fingerprint.replace(/[^A-Za-z0-9.-]+/g, '_');
}
