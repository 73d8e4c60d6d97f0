// The search index is a cache of the store: a FAISS index (Flat, or IVF for large collections)
// plus our own label <-> memory-id map (faiss-node has no add_with_ids, and removing ids
// renumbers a flat index). The manager keeps it current by applying the store's change
// sequence, proves on open that it matches the store, and rebuilds it from the store when not.
//
// Every FAISS call runs in the FAISS worker thread (faiss/faiss-host.ts), so none holds the
// event loop. Index work runs under one mutex, and every page of changes is posted to the
// worker in one synchronous step (map and index change together), so a search never sees a
// half-applied write. A rebuild fills a new generation off to the side, without the lock, and
// swaps it in at the end: searches keep being served.
//
// Collaborators, one job each: SearchBatcher (micro-batched search queue), SnapshotPersistence
// (snapshot capture, lock, write chain, load), GenerationBuilder (builds, IVF training, the
// reshape decision), verify.ts (proof against the store).
//
// When the FAISS worker dies, every generation it held is gone. An open manager then recovers in
// the background by the path open takes (snapshot, catch-up, proof, else a rebuild from the
// store) on a fresh worker; meanwhile searches fail at once with a "recovering" error, catch-ups
// are skipped (writes go to the store and the recovery reads them from the change sequence), and
// stats() says why. A worker that keeps dying leaves the manager failed instead of looping.
import { join } from 'node:path';
import { dirname } from 'node:path';
import { sleep } from '../shared/abort.js';
import { MemoryError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { Mutex } from '../shared/mutex.js';
import type { MemoryStore } from '../store/types.js';
import { RECOVERING_HINT, checkFaiss, onWorkerLost, workerEpoch } from './faiss/faiss-host.js';
import { GenerationBuilder, type Progress } from './generation-builder.js';
import { IndexState, type Hit } from './index-state.js';
import { DEFAULT_IVF_POLICY, WRITES_QUIET_MS, planFor, type IvfPolicy } from './ivf/ivf-policy.js';
import { SnapshotPersistence } from './persistence.js';
import { SearchBatcher } from './search-batcher.js';
import type { IndexStats, OpenReport, RecoveryInfo, SearchIndex } from './search-index.js';
import { randomSample } from '../shared/random-sample.js';
import { compareWithStore, repairFrom, trimReport, type SyncRepair, type VerifyReport } from './verify.js';
import { embeddedCount } from '../shared/embedded-count.js';

export type { Hit } from './index-state.js';
export type { IndexStats, OpenReport, RecoveryInfo, SearchIndex } from './search-index.js';
export type { TrainingAttempt } from './generation-builder.js';
export type { SyncRepair, VerifyReport } from './verify.js';

/** Changes applied per store read when catching up. */
const PAGE = 1000;
/** Ids of the map checked in the store before a snapshot serves (the rest in the background). */
const QUICK_SAMPLE = 64;

export interface IndexManagerOptions {
  store: MemoryStore;
  fingerprint: string;
  dimension: number;
  /** Folder for snapshot files (created on demand). */
  dir: string;
  logger: Logger;
  /** Delay between a change and the snapshot write; 0 writes only on close or persist(). */
  persistDelayMs?: number;
  /** No change applied for this long: writes have stopped (the IVF growth policy; default WRITES_QUIET_MS). */
  writesQuietMs?: number;
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
  /** After the FAISS worker stopped: how to recover (defaults: RECOVERY). */
  recovery?: Partial<RecoveryPolicy>;
}

export interface RecoveryPolicy {
  /** Failures (worker losses, failed recoveries) tolerated within windowMs; one more leaves the index failed. */
  maxFailures: number;
  windowMs: number;
  /** Wait before a retry: backoffMs after the second failure in the window, doubling after each further one. */
  backoffMs: number;
  /** Wait before the first attempt (0; tests hold the recovering state with it). */
  delayMs: number;
}

const RECOVERY: RecoveryPolicy = { maxFailures: 3, windowMs: 60_000, backoffMs: 1000, delayMs: 0 };

export class IndexManager implements SearchIndex {
  readonly fingerprint: string;
  readonly dimension: number;
  readonly snapshotPath: string;
  readonly frozen: boolean;
  private readonly store: MemoryStore;
  private readonly logger: Logger;
  private readonly compact: { ratio: number; min: number };
  private readonly policy: IvfPolicy;
  private readonly lock = new Mutex();
  private readonly lockTimeoutMs: number;
  private readonly persistence: SnapshotPersistence;
  private readonly builder: GenerationBuilder;
  private readonly batcher: SearchBatcher;
  /** What the index is doing, for error messages and health. */
  private activity = 'idle';
  /** The served generation. */
  private s: IndexState;
  private state: IndexStats['state'] = 'closed';
  private lastOpen: OpenReport | null = null;
  private lastRebuild: IndexStats['lastRebuild'] = null;
  private compactionsBefore = 0;
  /** A background rebuild in flight (only one at a time), and why it runs. */
  private rebuilding: { promise: Promise<{ vectors: number; ms: number }>; why: string } | null = null;
  private readonly recoveryPolicy: RecoveryPolicy;
  /** Listening for a lost FAISS worker while open. */
  private unlisten: (() => void) | null = null;
  /** When the last change was applied (ms), and the timer asking for a reshape once changes stop. */
  private lastWriteAt = 0;
  private readonly writesQuietMs: number;
  private quietTimer: NodeJS.Timeout | undefined;
  private recovery: RecoveryInfo | null = null;
  private recovering: Promise<void> | null = null;
  /** The full id comparison of a snapshot that passed the quick checks at open, while it runs. */
  private proving: Promise<void> | null = null;
  private proofDue = false;
  private recoveries = 0;
  /** Times of the failures counted against recoveryPolicy. */
  private failures: number[] = [];
  /** Ends a recovery's backoff wait at close. */
  private closing = new AbortController();

  constructor(options: IndexManagerOptions) {
    this.store = options.store;
    this.fingerprint = options.fingerprint;
    this.dimension = options.dimension;
    this.logger = options.logger;
    this.compact = { ratio: options.compactRatio ?? 0.25, min: options.compactMin ?? 1024 };
    this.lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
    this.writesQuietMs = options.writesQuietMs ?? WRITES_QUIET_MS;
    this.policy = { ...DEFAULT_IVF_POLICY, ...options.ivf };
    this.frozen = options.frozen ?? false;
    this.recoveryPolicy = { ...RECOVERY, ...options.recovery };
    this.snapshotPath = join(options.dir, `${slug(options.fingerprint)}.snapshot`);
    this.s = new IndexState(this.fingerprint, this.dimension);
    this.persistence = new SnapshotPersistence({
      path: this.snapshotPath,
      fingerprint: this.fingerprint,
      dimension: this.dimension,
      logger: this.logger,
      delayMs: options.persistDelayMs ?? 5000,
      canSchedule: () => this.state === 'ready' && !this.frozen,
      onDue: () =>
        void this.persist().catch((err: unknown) =>
          this.logger.error('could not write the index snapshot', { error: errorMessage(err) }),
        ),
    });
    this.builder = new GenerationBuilder({
      store: this.store,
      fingerprint: this.fingerprint,
      dimension: this.dimension,
      logger: this.logger,
      policy: this.policy,
      compact: this.compact,
      workDir: dirname(this.snapshotPath),
    });
    this.batcher = new SearchBatcher({
      // A batch queued when the worker was lost fails now instead of waiting for the recovery.
      exclusive: (section) =>
        this.notServing() ?? this.lock.run(() => this.doing('searching', section), this.bounded()),
      prepare: () => (this.frozen ? Promise.resolve() : this.syncLocked()),
      search: (queries, k) => this.s.search(queries, k),
      bounded: () => this.bounded(),
    });
  }

  /** Loads the snapshot, catches up with the store and proves they agree; otherwise rebuilds. */
  open(): Promise<OpenReport> {
    return this.lock.run(() =>
      this.doing('opening', async () => {
        const started = Date.now();
        this.state = 'opening';
        this.closing = new AbortController();
        try {
          if (!this.frozen) this.persistence.removeStaleTemporaries();
          const reason = await this.loadOrRebuild();
          this.state = 'ready';
          this.unlisten ??= onWorkerLost((why) => this.workerLost(why));
          this.reshapeIfDue();
          this.lastOpen = {
            source: reason === undefined ? 'snapshot' : 'rebuilt',
            ...(reason !== undefined ? { reason } : {}),
            vectors: this.s.live,
            ms: Date.now() - started,
            ...(reason === undefined
              ? { proof: this.proofDue ? 'counts and a sample; ids being compared' : 'ids' }
              : {}),
          };
          this.proveLater();
          return this.lastOpen;
        } catch (err) {
          this.state = 'failed';
          throw err;
        }
      }),
    );
  }

  /**
   * Open's path, and a recovery's: the snapshot, caught up and proven against the store, else a
   * rebuild from the store (a frozen index has no store to rebuild from: it fails). Under the
   * lock; returns why the snapshot was not used, if it was not.
   */
  private async loadOrRebuild(): Promise<string | undefined> {
    // faiss-node missing or broken is reported as such, not as a snapshot to rebuild.
    await checkFaiss();
    const loaded = await this.persistence.load(this.store);
    let reason = 'problem' in loaded ? loaded.problem : undefined;
    if ('state' in loaded) this.replace(loaded.state);
    if (this.frozen) {
      if (reason !== undefined) throw new MemoryError('INDEX_UNAVAILABLE', `previous index: ${reason}`);
      return undefined;
    }
    if (reason === undefined) {
      await this.syncLocked();
      // Counts and a sample agree: the snapshot serves now and its ids are compared with the
      // store's in the background (3.6 s at 1M memories); otherwise they are compared first.
      this.proofDue = await this.quickCheck();
      if (!this.proofDue) {
        const check = await this.verifyLocked();
        if (!check.ok) {
          reason = `snapshot disagrees with the store (${check.missingCount} missing, ${check.extraCount} extra${check.sizeMismatch ? `; ${check.sizeMismatch}` : ''})`;
        }
      }
    }
    if (reason !== undefined) {
      this.logger.warn('rebuilding the search index from the store', { reason });
      this.replace(await this.builder.build(this.s, { serving: false, exact: true }));
      this.persistence.dirty = true;
      await this.persistence.capture(this.s)?.();
    }
    return reason;
  }

  /**
   * The checks that cost no scan: as many memories embedded by this model in the store as the
   * index holds, the FAISS index as long as the map, and a sample of the map's ids embedded by
   * this model in the store (a store swapped for another fails it).
   */
  private async quickCheck(): Promise<boolean> {
    const s = this.s;
    if (s.broken || s.ids.length !== s.index.size) return false;
    if ((await s.index.count()) !== s.live + s.tombstones) return false;
    if ((await embeddedCount(this.store, this.fingerprint)) !== s.live) return false;
    const live = s.ids.filter((_, i) => i % Math.max(1, Math.floor(s.ids.length / QUICK_SAMPLE)) === 0);
    const sample = live.filter((id): id is string => typeof id === 'string').slice(0, QUICK_SAMPLE);
    const found = await this.store.get(sample);
    return (
      found.length === sample.length &&
      found.every((r) => r.embedding.status === 'done' && r.embedding.fingerprint === this.fingerprint)
    );
  }

  /** Starts the background id comparison a quick check at open left due. */
  private proveLater(): void {
    if (!this.proofDue || this.proving) return;
    this.proofDue = false;
    this.proving = this.prove()
      .catch((err: unknown) => {
        if (this.state === 'ready')
          this.logger.warn('the index could not be compared with the store', { error: errorMessage(err) });
      })
      .finally(() => {
        this.proving = null;
      });
  }

  /**
   * The full comparison after a quick open: the map's ids are copied under the lock, compared
   * off it with the store's ids at the same sequence number (tried again while other writers move
   * it, then under the lock); a disagreement is repaired as index_repair does.
   */
  private async prove(): Promise<void> {
    const started = Date.now();
    let report: VerifyReport | undefined;
    const over = () => this.state !== 'ready' || this.closing.signal.aborted;
    for (let attempt = 0; attempt < 5 && !report; attempt++) {
      if (over()) return;
      const copy = await this.lock.run(async () => {
        await this.syncLocked();
        return { s: this.s, seq: this.s.appliedSeq, labels: new Set(this.s.labels.keys()) };
      });
      if ((await this.store.headSeq()) !== copy.seq) continue;
      const storeIds = await this.store.embeddedIds(this.fingerprint);
      if ((await this.store.headSeq()) !== copy.seq || this.s !== copy.s) continue;
      const inStore = new Set(storeIds);
      let missing = 0;
      for (const id of inStore) if (!copy.labels.has(id)) missing++;
      let extra = 0;
      for (const id of copy.labels) if (!inStore.has(id)) extra++;
      if (missing === 0 && extra === 0) {
        if (this.lastOpen) this.lastOpen.proof = `ids (compared in the background in ${Date.now() - started} ms)`;
        return;
      }
      report = await this.verify();
    }
    if (over()) return;
    report ??= await this.verify(); // the store kept moving: compared under the lock
    if (over()) return;
    if (report.ok) {
      if (this.lastOpen) this.lastOpen.proof = `ids (compared in ${Date.now() - started} ms)`;
      return;
    }
    this.logger.warn('the index snapshot disagreed with the store; repairing', {
      missing: report.missingCount,
      extra: report.extraCount,
    });
    const repair = await this.repairSync(false);
    if (this.lastOpen) {
      this.lastOpen.proof = `ids: ${report.missingCount} missing and ${report.extraCount} extra found in the background, repaired (${repair.added} added, ${repair.dropped} dropped)`;
    }
  }

  /** The FAISS worker stopped: an open index starts recovering (a second loss meanwhile counts as a failure). */
  private workerLost(why: string): void {
    if (this.state !== 'ready' && this.state !== 'recovering') return;
    this.logger.error('the FAISS worker stopped; the search index is recovering', { why, frozen: this.frozen });
    const reason = `the FAISS worker stopped (${why})`;
    if (this.state === 'ready') {
      this.state = 'recovering';
      this.recovery = { reason, since: new Date().toISOString(), attempts: 0 };
    } else if (this.recovery) this.recovery.reason = reason;
    if (this.countFailure(reason) && !this.recovering) {
      this.recovering = this.recover().finally(() => {
        this.recovering = null;
      });
    }
  }

  /**
   * Counts a failure against the recovery policy; past maxFailures within the window the index
   * is failed for good (returns false). A frozen index is the previous model's: it is retried too.
   */
  private countFailure(reason: string): boolean {
    const now = Date.now();
    const { maxFailures, windowMs } = this.recoveryPolicy;
    this.failures = [...this.failures.filter((t) => now - t < windowMs), now];
    if (this.failures.length <= maxFailures) return true;
    this.state = 'failed';
    const message = `gave up recovering the search index: ${this.failures.length} failures within ${Math.round(windowMs / 1000)} s, the last: ${reason}`;
    this.recovery = { ...(this.recovery ?? { since: new Date().toISOString(), attempts: 0 }), reason: message };
    this.logger.error('the search index stays unavailable until the server restarts', { reason: message });
    return false;
  }

  /** Reloads (or rebuilds) the index on a fresh worker, backing off between attempts, until it serves or fails. */
  private async recover(): Promise<void> {
    for (;;) {
      const now = Date.now();
      const strikes = this.failures.filter((t) => now - t < this.recoveryPolicy.windowMs).length;
      const { backoffMs, delayMs } = this.recoveryPolicy;
      const wait = strikes < 2 ? delayMs : backoffMs * 2 ** (strikes - 2);
      if (wait > 0) await sleep(wait, this.closing.signal).catch(() => undefined);
      if (this.state !== 'recovering' || !this.recovery) return;
      const recovery = this.recovery;
      const epoch = workerEpoch();
      const started = Date.now();
      recovery.attempts++;
      try {
        const reason = await this.lock.run(() =>
          this.doing(`recovering (${recovery.reason})`, async () => {
            if (this.state !== 'recovering') return undefined; // closed meanwhile
            return this.loadOrRebuild();
          }),
        );
        if (this.state !== 'recovering') return;
        if (this.s.index.lost || workerEpoch() !== epoch) continue; // lost again meanwhile: counted by workerLost
        this.state = 'ready';
        this.recovery = null;
        this.recoveries++;
        this.persistence.schedule();
        this.reshapeIfDue();
        this.proveLater();
        this.logger.info('search index recovered after the FAISS worker stopped', {
          source: reason === undefined ? 'snapshot' : 'rebuilt',
          ...(reason !== undefined ? { reason } : {}),
          vectors: this.s.live,
          ms: Date.now() - started,
        });
        return;
      } catch (err) {
        if (this.state !== 'recovering') return;
        this.logger.warn('search index recovery failed', { error: errorMessage(err), attempt: recovery.attempts });
        // A worker lost during the attempt was counted when it was lost.
        if (workerEpoch() === epoch && !this.countFailure(`recovery failed: ${errorMessage(err)}`)) return;
      }
    }
  }

  /** While recovering or failed: the error a search or verify fails with at once. */
  private unservable(): MemoryError | undefined {
    if (this.state !== 'recovering' && !(this.state === 'failed' && this.recovery)) return undefined;
    const r = this.recovery!;
    if (this.state === 'failed') {
      return new MemoryError('INDEX_UNAVAILABLE', `the search index is unavailable: ${r.reason}`, {
        hint: 'restart the server (it rebuilds the index from the store); stored memories are kept, writes are acknowledged, and keyword search still answers',
      });
    }
    return new MemoryError('INDEX_UNAVAILABLE', `the search index is recovering: ${r.reason}, since ${r.since}`, {
      hint: this.frozen
        ? "the previous model's index is reloaded from its snapshot; searches use the current model's index meanwhile"
        : RECOVERING_HINT,
    });
  }

  private notServing(): Promise<never> | undefined {
    const err = this.unservable();
    return err ? Promise.reject(err) : undefined;
  }

  /** Open and answering searches (not opening, recovering, failed or closed). */
  get serving(): boolean {
    return this.state === 'ready';
  }

  /** Applies every store change committed before this call. */
  sync(signal?: AbortSignal): Promise<void> {
    // Recovering: the recovery catches up itself (and the next search does). Failed: nothing to update.
    if (this.frozen || this.unservable()) return Promise.resolve();
    return this.lock.run(() => this.doing('catching up with the store', () => this.syncLocked()), {
      ...this.bounded(),
      signal,
    });
  }

  /**
   * Nearest live memories for each query, after catching up with the store; micro-batched with
   * searches that arrive together (each caller gets exactly its own results). A query of the
   * wrong dimension is refused before it can join a batch.
   */
  search(queries: readonly Float32Array[], k: number, signal?: AbortSignal): Promise<Hit[][]> {
    const bad = queries.find((q) => q.length !== this.dimension);
    if (bad) {
      return Promise.reject(new RangeError(`query has dimension ${bad.length}, the index expects ${this.dimension}`));
    }
    return this.notServing() ?? this.batcher.search(queries, k, signal);
  }

  verify(): Promise<VerifyReport> {
    return this.notServing() ?? this.lock.run(() => this.doing('verifying', () => this.verifyLocked()), this.bounded());
  }

  /** Adds what the store has and the index lacks, drops what the store no longer has. */
  repairSync(dryRun: boolean): Promise<SyncRepair> {
    return this.lock.run(
      () =>
        this.doing('repairing', async () => {
          const before = await this.verifyLocked(true);
          if (dryRun) return { before: trimReport(before), added: 0, dropped: 0, after: trimReport(before) };
          const { added, dropped } = await repairFrom(this.s, this.store, this.fingerprint, before);
          this.persistence.markDirty();
          const after = await this.verifyLocked();
          this.logger.info('search index repaired', { added, dropped });
          return { before: trimReport(before), added, dropped, after };
        }),
      this.bounded(),
    );
  }

  /**
   * Builds a new index from the store off to the side while searches keep using the current
   * one, then swaps it in (after catching it up with writes made meanwhile).
   */
  rebuild(onProgress?: Progress, why = 'requested'): Promise<{ vectors: number; ms: number }> {
    if (this.rebuilding) return this.rebuilding.promise;
    const promise = this.rebuildOnce(onProgress).finally(() => {
      this.rebuilding = null;
    });
    // Changes that came during the rebuild may call for another shape already (an import that
    // ended meanwhile sends no further change to ask). Not after a failure: no retry loop.
    promise.then(
      () => this.reshapeIfDue(),
      () => undefined,
    );
    this.rebuilding = { promise, why };
    return promise;
  }

  private async rebuildOnce(onProgress?: Progress): Promise<{ vectors: number; ms: number }> {
    const started = Date.now();
    this.activity = 'rebuilding from the store';
    try {
      const fresh = await this.builder.build(this.s, { serving: this.state === 'ready', onProgress });
      try {
        await this.lock.run(async () => {
          // Built on a worker that stopped since: never swap in a generation that is gone.
          if (fresh.index.lost) {
            throw new MemoryError('INDEX_UNAVAILABLE', 'the rebuilt index was lost: the FAISS worker stopped', {
              hint: RECOVERING_HINT,
            });
          }
          await this.catchUp(fresh);
          this.compactionsBefore += this.s.compactions;
          this.replace(fresh); // the swap: one assignment, no await
          this.persistence.dirty = true;
        });
      } catch (err) {
        if (this.s !== fresh) fresh.release();
        throw err;
      }
      // A trained generation is written at once (when snapshots are written on their own at all):
      // a restart meanwhile would otherwise serve the previous shape and train again.
      if (this.s.index.kind === 'IVF' && this.persistence.writesOnItsOwn) {
        this.persist().catch((err: unknown) =>
          this.logger.warn('could not write the snapshot of the new index', { error: errorMessage(err) }),
        );
      } else this.persistence.schedule();
      const ms = Date.now() - started;
      this.lastRebuild = { at: new Date().toISOString(), vectors: this.s.live, ms };
      this.logger.info('search index rebuilt from the store', { vectors: this.s.live, type: this.s.index.kind, ms });
      return { vectors: this.s.live, ms };
    } finally {
      this.activity = 'idle';
    }
  }

  /**
   * After changes: starts a background rebuild when the served generation has outgrown its
   * shape. While changes keep arriving an IVF generation is retrained only when far off its
   * shape (ivf-policy.ts); once they stop for WRITES_QUIET_MS, a timer asks again.
   */
  private reshapeIfDue(): void {
    if (this.rebuilding || this.state !== 'ready' || this.frozen) return;
    const writing = Date.now() - this.lastWriteAt < this.writesQuietMs;
    const why = this.builder.reshapeReason(this.s, writing);
    if (!why && writing && !this.quietTimer && this.builder.reshapeReason(this.s, false)) {
      this.quietTimer = setTimeout(
        () => {
          this.quietTimer = undefined;
          this.reshapeIfDue();
        },
        this.lastWriteAt + this.writesQuietMs - Date.now() + 10,
      );
      this.quietTimer.unref();
    }
    if (!why) return;
    this.logger.info('reshaping the search index in the background', { why });
    this.rebuild(undefined, why).catch((err: unknown) =>
      this.logger.error('background index rebuild failed', { why, error: errorMessage(err) }),
    );
  }

  /** Writes the snapshot if anything changed since the last one (with `force`, even if not). */
  persist(options: { force?: boolean } = {}): Promise<void> {
    if (this.unservable()) return Promise.resolve(); // nothing sound to write until the recovery
    return this.lock
      .run(() =>
        this.doing('capturing its snapshot', async () => {
          if (options.force) this.persistence.dirty = true;
          return this.persistence.capture(this.s);
        }),
      )
      .then((write) => write?.());
  }

  /** Stops the persist timer and writes the snapshot if anything changed. */
  close(): Promise<void> {
    this.persistence.stopTimer();
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
    this.unlisten?.();
    this.unlisten = null;
    this.closing.abort();
    const proving = this.proving ?? Promise.resolve();
    return proving.then(() =>
      this.lock.run(async () => {
        if (this.state === 'ready' && !this.frozen) {
          // Writes acknowledged while the index was still opening are in the store, not yet here:
          // catch up first, so the snapshot left behind is current (a model change serves it).
          await this.syncLocked().catch((err: unknown) =>
            this.logger.warn('could not catch up before writing the snapshot', { error: errorMessage(err) }),
          );
          await this.persistence.capture(this.s)?.();
        }
        await this.persistence.settled(); // writes started by the timer finish before we report closed
        this.state = 'closed';
        // The worker's memory goes back now; a manager is not searched after close.
        this.replace(new IndexState(this.fingerprint, this.dimension));
      }),
    );
  }

  /** Closes and deletes the snapshot: the previous model's index once a model change completed. */
  async discard(): Promise<void> {
    await this.close();
    this.persistence.delete();
  }

  get liveCount(): number {
    return this.s.live;
  }

  /** Vectors held, tombstones included (what the memory limit counts). */
  get vectorCount(): number {
    return this.s.index.size;
  }

  /** `n` ids drawn at random from the live memories of the served generation. */
  async sampleIds(n: number): Promise<string[]> {
    return randomSample(this.s.labels.keys(), n);
  }

  stats(): IndexStats {
    const shape = this.s.index.shape();
    const p = this.persistence;
    return {
      state: this.state,
      recovery: this.recovery && { ...this.recovery },
      recoveries: this.recoveries,
      type: shape.type,
      nlist: shape.nlist,
      nprobe: shape.nprobe,
      trained: shape.trained,
      trainingSetSize: this.s.training?.trainingSetSize ?? null,
      vectorsPerList: shape.nlist ? Math.round(this.s.index.size / shape.nlist) : null,
      training: this.s.training,
      lastTrainingAttempt: this.builder.lastAttempt,
      plan: planFor(this.s.live, this.dimension, this.policy).why,
      reshaping: this.rebuilding?.why ?? null,
      fingerprint: this.fingerprint,
      dimension: this.dimension,
      vectors: this.s.index.size,
      live: this.s.live,
      tombstones: this.s.tombstones,
      appliedSeq: this.s.appliedSeq,
      lastPersistAt: p.lastPersist?.at ?? null,
      lastPersistSeq: p.lastPersist?.seq ?? null,
      persistFailure: p.failure,
      snapshotPath: this.snapshotPath,
      snapshotBytes: p.fileBytes(),
      memoryBytes: this.s.index.size * this.dimension * 4,
      lastOpen: this.lastOpen,
      lastRebuild: this.lastRebuild,
      queued: this.lock.size + this.batcher.size,
      compactions: this.compactionsBefore + this.s.compactions,
      persistSkipped: p.skipped,
      searchCalls: this.batcher.calls,
      searchBatches: this.batcher.batches,
      activity: this.activity,
    };
  }

  // ---- everything below runs under the lock, or on a generation nobody searches yet

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

  private async syncLocked(): Promise<void> {
    const head = await this.store.headSeq();
    if (head === this.s.appliedSeq) return;
    if (head < this.s.appliedSeq) {
      this.logger.warn('the store is behind the index (store replaced?); rebuilding', {
        head,
        applied: this.s.appliedSeq,
      });
      this.replace(await this.builder.build(this.s, { serving: false, exact: true }));
      this.persistence.dirty = true;
      return;
    }
    await this.catchUp(this.s, () => this.persistence.markDirty());
    this.reshapeIfDue();
  }

  /** Applies the store's changes after `s.appliedSeq` to `s`, page by page. */
  private async catchUp(s: IndexState, onPage?: () => void): Promise<void> {
    for (;;) {
      const page = await this.store.changesSince(s.appliedSeq, PAGE);
      if (page.events.length > 0) this.lastWriteAt = Date.now();
      const applied = s.apply(page.events, this.logger, this.compact);
      s.appliedSeq = page.toSeq;
      await applied;
      onPage?.();
      if (!page.more) return;
    }
  }

  private async verifyLocked(full = false): Promise<VerifyReport> {
    const report = await compareWithStore(this.s, this.store, this.fingerprint, () => this.syncLocked());
    return full ? report : trimReport(report);
  }

  /** Makes `next` the served generation and frees the one it replaces. */
  private replace(next: IndexState): void {
    if (next === this.s) return;
    this.s.release();
    this.s = next;
  }
}

function slug(fingerprint: string): string {
  return fingerprint.replace(/[^A-Za-z0-9.-]+/g, '_');
}
