// The search index is a cache of the store: an exact inner-product FAISS index plus our own
// label <-> memory-id map (faiss-node has no add_with_ids, and removing ids renumbers a flat
// index). The manager keeps it current by applying the store's change sequence, proves on
// open that it matches the store, and rebuilds it from the store when it does not.
//
// All index work runs under one mutex, and every batch of changes is applied in one
// synchronous step, so a search never sees a half-applied write.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ChangeEvent, MemoryStore } from '../store/types.js';
import { FlatIndex } from './flat-index.js';
import { Mutex } from './mutex.js';
import { tryLock } from './persist-lock.js';
import { encodeSnapshot, readSnapshotFile, writeFileAtomic } from './snapshot.js';

const PAGE = 1000;
/** A snapshot write takes seconds even for large indexes; a lock older than this is a crashed holder's. */
const PERSIST_LOCK_STALE_MS = 10 * 60_000;
const HASH_CHARS = 16;

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
}

export interface OpenReport {
  source: 'snapshot' | 'rebuilt';
  reason?: string;
  vectors: number;
  ms: number;
}

export interface Hit {
  id: string;
  score: number;
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

export interface IndexStats {
  state: 'closed' | 'opening' | 'ready' | 'failed';
  fingerprint: string;
  dimension: number;
  vectors: number;
  live: number;
  tombstones: number;
  appliedSeq: number;
  lastPersistAt: string | null;
  lastPersistSeq: number | null;
  snapshotPath: string;
  lastOpen: OpenReport | null;
  queued: number;
  compactions: number;
  /** Persists skipped because another process held the snapshot lock. */
  persistSkipped: number;
}

export class IndexManager {
  readonly fingerprint: string;
  readonly dimension: number;
  readonly snapshotPath: string;
  private readonly store: MemoryStore;
  private readonly logger: Logger;
  private readonly persistDelayMs: number;
  private readonly compactRatio: number;
  private readonly compactMin: number;
  private readonly lock = new Mutex();
  private readonly lockTimeoutMs: number;
  /** What the section holding the lock is doing, for error messages. */
  private activity = 'idle';

  private index: FlatIndex;
  private ids: (string | null)[] = [];
  private hashes: (string | null)[] = [];
  private labels = new Map<string, number>();
  private tombstones = 0;
  private appliedSeq = 0;
  private dirty = false;
  private state: IndexStats['state'] = 'closed';
  private persistTimer: NodeJS.Timeout | undefined;
  private lastPersist: { at: string; seq: number } | null = null;
  private lastOpen: OpenReport | null = null;
  private compactions = 0;
  private persistSkipped = 0;

  constructor(options: IndexManagerOptions) {
    this.store = options.store;
    this.fingerprint = options.fingerprint;
    this.dimension = options.dimension;
    this.logger = options.logger;
    this.persistDelayMs = options.persistDelayMs ?? 5000;
    this.compactRatio = options.compactRatio ?? 0.25;
    this.compactMin = options.compactMin ?? 1024;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
    this.snapshotPath = join(options.dir, `${slug(options.fingerprint)}.snapshot`);
    this.index = FlatIndex.create(this.dimension);
  }

  /** Loads the snapshot, catches up with the store and proves they agree; otherwise rebuilds. */
  open(): Promise<OpenReport> {
    return this.lock.run(async () => {
      this.activity = 'opening';
      const started = Date.now();
      this.state = 'opening';
      try {
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
          await this.rebuildLocked();
          await this.persistLocked();
        }
        this.state = 'ready';
        const report: OpenReport = {
          source: reason === undefined ? 'snapshot' : 'rebuilt',
          ...(reason !== undefined ? { reason } : {}),
          vectors: this.labels.size,
          ms: Date.now() - started,
        };
        this.lastOpen = report;
        this.activity = 'idle';
        return report;
      } catch (err) {
        this.state = 'failed';
        this.activity = 'idle';
        throw err;
      }
    });
  }

  /** Applies every store change committed before this call. */
  sync(): Promise<void> {
    return this.lock.run(() => this.doing('catching up with the store', () => this.syncLocked()), this.bounded());
  }

  /** Nearest live memories for each query, after catching up with the store. */
  search(queries: readonly Float32Array[], k: number): Promise<Hit[][]> {
    return this.lock.run(
      () =>
        this.doing('searching', async () => {
          await this.syncLocked();
          return this.searchNow(queries, k);
        }),
      this.bounded(),
    );
  }

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
    this.activity = what;
    try {
      return await section();
    } finally {
      this.activity = 'idle';
    }
  }

  verify(): Promise<VerifyReport> {
    return this.lock.run(() => this.verifyLocked());
  }

  rebuild(): Promise<void> {
    return this.lock.run(() =>
      this.doing('rebuilding from the store', async () => {
        await this.rebuildLocked();
        this.schedulePersist();
      }),
    );
  }

  persist(): Promise<void> {
    return this.lock.run(() => this.doing('writing its snapshot', () => this.persistLocked()));
  }

  /** Stops the persist timer and writes the snapshot if anything changed. */
  close(): Promise<void> {
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    return this.lock.run(async () => {
      if (this.state === 'ready') await this.persistLocked();
      this.state = 'closed';
    });
  }

  get liveCount(): number {
    return this.labels.size;
  }

  stats(): IndexStats {
    return {
      state: this.state,
      fingerprint: this.fingerprint,
      dimension: this.dimension,
      vectors: this.index.size,
      live: this.labels.size,
      tombstones: this.tombstones,
      appliedSeq: this.appliedSeq,
      lastPersistAt: this.lastPersist?.at ?? null,
      lastPersistSeq: this.lastPersist?.seq ?? null,
      snapshotPath: this.snapshotPath,
      lastOpen: this.lastOpen,
      queued: this.lock.size,
      compactions: this.compactions,
      persistSkipped: this.persistSkipped,
    };
  }

  // ---- everything below runs under the lock ----

  private searchNow(queries: readonly Float32Array[], k: number): Hit[][] {
    if (this.labels.size === 0 || k < 1) return queries.map(() => []);
    // Tombstoned labels still sit in the faiss index: ask for enough to fill k live hits.
    const want = Math.min(this.index.size, Math.floor(k) + this.tombstones);
    return this.index.search(queries, want).map((hits) => {
      const out: Hit[] = [];
      for (let i = 0; i < hits.labels.length && out.length < k; i++) {
        const id = this.ids[hits.labels[i]!];
        if (id) out.push({ id, score: hits.scores[i]! });
      }
      return out;
    });
  }

  private async loadSnapshotLocked(): Promise<string | undefined> {
    if (!existsSync(this.snapshotPath)) return 'no snapshot file';
    try {
      const { header, index } = readSnapshotFile(this.snapshotPath);
      if (header.fingerprint !== this.fingerprint || header.dimension !== this.dimension) {
        return `snapshot was made by ${header.fingerprint}, the provider is ${this.fingerprint}`;
      }
      const restored = FlatIndex.deserialize(index, this.dimension);
      if (restored.size !== header.count) {
        return `snapshot holds ${restored.size} vectors but its map has ${header.count}`;
      }
      const head = await this.store.headSeq();
      if (header.appliedSeq > head) {
        return `snapshot reflects change ${header.appliedSeq} but the store is at ${head} (store replaced?)`;
      }
      this.resetState(restored);
      this.ids = header.ids;
      this.hashes = header.hashes;
      for (let label = 0; label < this.ids.length; label++) {
        const id = this.ids[label];
        if (id === null || id === undefined) {
          this.tombstones++;
        } else if (this.labels.has(id)) {
          return `snapshot maps memory ${id} twice`;
        } else {
          this.labels.set(id, label);
        }
      }
      this.appliedSeq = header.appliedSeq;
      this.lastPersist = { at: header.createdAt, seq: header.appliedSeq };
      return undefined;
    } catch (err) {
      this.resetState(FlatIndex.create(this.dimension));
      return `snapshot unreadable: ${errorMessage(err)}`;
    }
  }

  private resetState(index: FlatIndex): void {
    this.index = index;
    this.ids = [];
    this.hashes = [];
    this.labels = new Map();
    this.tombstones = 0;
    this.appliedSeq = 0;
  }

  private async syncLocked(): Promise<void> {
    for (;;) {
      const head = await this.store.headSeq();
      if (head === this.appliedSeq) return;
      if (head < this.appliedSeq) {
        this.logger.warn('the store is behind the index (store replaced?); rebuilding', {
          head,
          applied: this.appliedSeq,
        });
        await this.rebuildLocked();
        return;
      }
      const page = await this.store.changesSince(this.appliedSeq, PAGE);
      this.apply(page.events);
      this.appliedSeq = page.toSeq;
      this.dirty = true;
      this.schedulePersist();
      if (!page.more) return;
    }
  }

  /** Applies one page of changes synchronously (no await), so searches see all or none. */
  private apply(events: readonly ChangeEvent[]): void {
    const adds = new Map<string, { vector: Float32Array; hash: string }>();
    for (const e of events) {
      const id = e.kind === 'delete' ? e.id : e.record.id;
      const vector =
        e.kind === 'upsert' && e.vector && e.vector.fingerprint === this.fingerprint ? e.vector.vector : null;
      if (!vector || vector.length !== this.dimension) {
        if (vector) this.logger.warn('skipping a stored vector of the wrong dimension', { id });
        adds.delete(id);
        this.tombstone(id);
        continue;
      }
      const hash = (e as Extract<ChangeEvent, { kind: 'upsert' }>).record.contentHash.slice(0, HASH_CHARS);
      const label = this.labels.get(id);
      if (!adds.has(id) && label !== undefined && this.hashes[label] === hash) continue;
      this.tombstone(id);
      adds.set(id, { vector, hash });
    }
    if (adds.size > 0) {
      const first = this.index.size;
      const entries = [...adds];
      this.index.add(entries.map(([, a]) => a.vector));
      entries.forEach(([id, a], i) => {
        this.ids.push(id);
        this.hashes.push(a.hash);
        this.labels.set(id, first + i);
      });
    }
    if (this.tombstones >= this.compactMin && this.tombstones > this.index.size * this.compactRatio) this.compact();
  }

  private tombstone(id: string): void {
    const label = this.labels.get(id);
    if (label === undefined) return;
    this.ids[label] = null;
    this.hashes[label] = null;
    this.labels.delete(id);
    this.tombstones++;
  }

  /** Drops tombstoned vectors. A flat index keeps order when removing, so live labels shift down. */
  private compact(): void {
    const dead: number[] = [];
    for (let l = 0; l < this.ids.length; l++) if (this.ids[l] === null) dead.push(l);
    const removed = this.index.remove(dead);
    const ids = this.ids.filter((id): id is string => id !== null);
    const hashes = this.hashes.filter((h): h is string => h !== null);
    if (removed !== dead.length || this.index.size !== ids.length) {
      throw new Error(`compaction removed ${removed} of ${dead.length} vectors; the index needs a rebuild`);
    }
    this.ids = ids;
    this.hashes = hashes;
    this.labels = new Map(ids.map((id, label) => [id, label]));
    this.tombstones = 0;
    this.compactions++;
    this.logger.debug('compacted the search index', { removed, vectors: this.index.size });
  }

  private async rebuildLocked(): Promise<void> {
    const started = Date.now();
    this.resetState(FlatIndex.create(this.dimension));
    await this.syncLockedFromScratch();
    this.dirty = true;
    this.logger.info('search index rebuilt from the store', { vectors: this.labels.size, ms: Date.now() - started });
  }

  private async syncLockedFromScratch(): Promise<void> {
    for (;;) {
      const page = await this.store.changesSince(this.appliedSeq, PAGE);
      this.apply(page.events);
      this.appliedSeq = page.toSeq;
      if (!page.more) return;
    }
  }

  private async verifyLocked(): Promise<VerifyReport> {
    let inconclusive = true;
    let storeIds: string[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      await this.syncLocked();
      const before = await this.store.headSeq();
      storeIds = await this.store.embeddedIds(this.fingerprint);
      const after = await this.store.headSeq();
      if (before === after && before === this.appliedSeq) {
        inconclusive = false;
        break;
      }
    }
    const inStore = new Set(storeIds);
    const missing = storeIds.filter((id) => !this.labels.has(id));
    const extra = [...this.labels.keys()].filter((id) => !inStore.has(id));
    const sizeOk = this.index.size === this.labels.size + this.tombstones && this.ids.length === this.index.size;
    return {
      ok: missing.length === 0 && extra.length === 0 && sizeOk,
      inconclusive,
      storeCount: storeIds.length,
      indexCount: this.labels.size,
      missingFromIndex: missing.slice(0, 20),
      notInStore: extra.slice(0, 20),
      missingCount: missing.length,
      extraCount: extra.length,
    };
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
    if (!this.dirty && existsSync(this.snapshotPath)) return;
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    const createdAt = new Date().toISOString();
    const bytes = encodeSnapshot(
      {
        fingerprint: this.fingerprint,
        dimension: this.dimension,
        count: this.index.size,
        live: this.labels.size,
        appliedSeq: this.appliedSeq,
        createdAt,
        ids: this.ids,
        hashes: this.hashes,
      },
      this.index.serialize(),
    );
    const lock = tryLock(`${this.snapshotPath}.lock`, PERSIST_LOCK_STALE_MS);
    if (!lock.acquired) {
      // Another process is writing the snapshot; ours stays dirty and is retried later.
      this.logger.debug('another process is writing the index snapshot', { holder: lock.holder });
      this.persistSkipped++;
      this.schedulePersist();
      return;
    }
    try {
      writeFileAtomic(this.snapshotPath, bytes);
    } finally {
      lock.release();
    }
    this.dirty = false;
    this.lastPersist = { at: createdAt, seq: this.appliedSeq };
  }
}

function slug(fingerprint: string): string {
  return fingerprint.replace(/[^A-Za-z0-9.-]+/g, '_');
}
