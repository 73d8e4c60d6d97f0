// Search served by the store's own vector index (FalkorDB's HNSW: MEMORY_SEARCH_INDEX=falkordb).
// Nothing is held in this process and nothing is written to disk: FalkorDB updates its index in
// the query that writes a vector, so every instance on one FalkorDB finds every write at once,
// and an instance starts serving as soon as the store answers. What a local index has to do
// (catch up, prove against the store, snapshot, reshape) does not apply; verify compares the
// number of memories holding this model's vectors with what FalkorDB's indexes hold, and repair
// makes missing indexes (sync) or drops and refills them (rebuild).
import { MemoryError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { sleep } from '../shared/abort.js';
import { randomSample } from '../shared/random-sample.js';
import type { MemoryStore, StoreVectorSearch, VectorIndexState } from '../store/types.js';
import type { Hit } from './index-state.js';
import type { IndexStats, OpenReport, SearchIndex } from './search-index.js';
import type { SyncRepair, VerifyReport } from './verify.js';

/** The count of memories holding this model's vectors is reused this long between writes. */
const COUNT_MS = 1000;
/** How long a repair waits for FalkorDB to fill a made index. */
const FILL_WAIT_MS = 60_000;

export interface StoreSearchIndexOptions {
  store: MemoryStore;
  search: StoreVectorSearch;
  fingerprint: string;
  dimension: number;
  logger: Logger;
  /** Where searches go, for health (`FalkorDB redis://… graph memory`). */
  where: string;
}

export class StoreSearchIndex implements SearchIndex {
  readonly fingerprint: string;
  readonly dimension: number;
  readonly frozen = false;
  private readonly store: MemoryStore;
  private readonly search_: StoreVectorSearch;
  private readonly logger: Logger;
  private readonly where: string;
  private state: IndexStats['state'] = 'closed';
  private live = 0;
  private countedAt = 0;
  private counting: Promise<void> | undefined;
  private lastOpen: OpenReport | null = null;
  private lastRebuild: IndexStats['lastRebuild'] = null;
  private activity = 'idle';
  private calls = 0;
  private inFlight = 0;

  constructor(o: StoreSearchIndexOptions) {
    this.store = o.store;
    this.search_ = o.search;
    this.fingerprint = o.fingerprint;
    this.dimension = o.dimension;
    this.logger = o.logger;
    this.where = o.where;
  }

  /** Makes the vector indexes searched exist with the model's dimension, and counts what they can return. */
  async open(): Promise<OpenReport> {
    const started = Date.now();
    this.state = 'opening';
    try {
      await this.search_.ensure(this.dimension, this.fingerprint, false);
      await this.recount();
    } catch (err) {
      this.state = 'failed';
      throw err;
    }
    this.state = 'ready';
    this.lastOpen = { source: 'store', vectors: this.live, ms: Date.now() - started };
    return this.lastOpen;
  }

  get serving(): boolean {
    return this.state === 'ready';
  }

  get liveCount(): number {
    return this.live;
  }

  /** This process holds no vectors. */
  get vectorCount(): number {
    return 0;
  }

  /** Nothing to apply (FalkorDB indexed each write in its own query); the count is refreshed at most once a second. */
  async sync(): Promise<void> {
    if (this.serving && Date.now() - this.countedAt >= COUNT_MS) await this.recount();
  }

  async search(queries: readonly Float32Array[], k: number, signal?: AbortSignal): Promise<Hit[][]> {
    const bad = queries.find((q) => q.length !== this.dimension);
    if (bad) {
      throw new RangeError(`query has dimension ${bad.length}, the index expects ${this.dimension}`);
    }
    if (!this.serving) {
      throw new MemoryError('INDEX_UNAVAILABLE', `the search index is ${this.state}`, {
        hint: 'index_health says why; keyword search still answers',
      });
    }
    // (A caller widening until it reaches the count must see writes of other instances.)
    if (k >= this.live) await this.recount();
    this.calls += queries.length;
    this.inFlight++;
    try {
      // (A batch, as the duplicate check of a store sends, goes out at once: one round trip, not one per query.)
      signal?.throwIfAborted();
      return await Promise.all(queries.map((q) => this.search_.search(q, k, this.fingerprint)));
    } finally {
      this.inFlight--;
    }
  }

  async sampleIds(n: number): Promise<string[]> {
    return randomSample(await this.store.embeddedIds(this.fingerprint), n);
  }

  /**
   * The memories holding this model's vectors against what FalkorDB's indexes hold: an index
   * missing or of another dimension leaves its memories unfindable. The indexes also hold
   * vectors no memory owns (nodes of other tools not registered, another model of the same
   * dimension), so more indexed than counted is not an error (inconclusive).
   */
  async verify(): Promise<VerifyReport> {
    const indexes = await this.search_.inspect(this.dimension, this.fingerprint);
    await this.recount();
    return this.report(indexes);
  }

  private report(indexes: VectorIndexState[]): VerifyReport {
    const indexed = indexes.reduce((sum, i) => sum + (i.state === 'ready' ? (i.indexed ?? 0) : 0), 0);
    const missing = Math.max(0, this.live - indexed);
    const unusable = indexes.filter((i) => i.state !== 'ready');
    return {
      ok: missing === 0 && unusable.length === 0,
      inconclusive: indexed !== this.live,
      storeCount: this.live,
      indexCount: indexed,
      missingFromIndex: [],
      notInStore: [],
      missingCount: missing,
      extraCount: 0,
      duplicateCount: 0,
      sizeMismatch:
        unusable.length > 0
          ? unusable.map((i) => `${i.graph}: ${i.label}.${i.property} ${i.detail ?? i.state}`).join('; ')
          : null,
    };
  }

  /** Makes the missing indexes, here and in other tools' graphs (FalkorDB fills them from the nodes), and waits for the fill. */
  async repairSync(dryRun: boolean): Promise<SyncRepair> {
    const before = await this.verify();
    if (dryRun) return { before, added: 0, dropped: 0, after: before };
    this.activity = 'waiting for FalkorDB to fill its vector indexes';
    try {
      await this.search_.ensure(this.dimension, this.fingerprint, true);
      const after = await this.filled();
      return { before, added: Math.max(0, before.missingCount - after.missingCount), dropped: 0, after };
    } finally {
      this.activity = 'idle';
    }
  }

  /** Drops every index searched and makes it again, then waits for FalkorDB to fill it from the nodes. */
  async rebuild(): Promise<{ vectors: number; ms: number }> {
    const started = Date.now();
    this.activity = 'remaking the vector indexes in FalkorDB';
    try {
      await this.search_.recreate(this.dimension, this.fingerprint);
      await this.filled();
    } finally {
      this.activity = 'idle';
    }
    const ms = Date.now() - started;
    this.lastRebuild = { at: new Date().toISOString(), vectors: this.live, ms };
    this.logger.info('FalkorDB vector indexes made again', { vectors: this.live, ms });
    return { vectors: this.live, ms };
  }

  private async filled(): Promise<VerifyReport> {
    const until = Date.now() + FILL_WAIT_MS;
    for (;;) {
      const report = await this.verify();
      if (report.ok || Date.now() > until) return report;
      await sleep(200);
    }
  }

  async persist(): Promise<void> {}

  async close(): Promise<void> {
    this.state = 'closed';
  }

  async discard(): Promise<void> {
    await this.close();
  }

  stats(): IndexStats {
    return {
      state: this.state,
      recovery: null,
      recoveries: 0,
      type: 'HNSW',
      nlist: null,
      nprobe: null,
      trained: true,
      trainingSetSize: null,
      vectorsPerList: null,
      training: null,
      lastTrainingAttempt: null,
      plan: `served by FalkorDB's vector indexes (${this.where}); nothing held in this process (MEMORY_SEARCH_INDEX=falkordb)`,
      reshaping: null,
      fingerprint: this.fingerprint,
      dimension: this.dimension,
      vectors: this.live,
      live: this.live,
      tombstones: 0,
      appliedSeq: 0,
      lastPersistAt: null,
      lastPersistSeq: null,
      persistFailure: null,
      snapshotPath: null,
      snapshotBytes: null,
      memoryBytes: 0,
      lastOpen: this.lastOpen,
      lastRebuild: this.lastRebuild,
      queued: this.inFlight,
      compactions: 0,
      persistSkipped: 0,
      searchCalls: this.calls,
      searchBatches: this.calls,
      activity: this.activity,
    };
  }

  /** One count at a time; callers arriving meanwhile share it. */
  private recount(): Promise<void> {
    this.counting ??= this.search_
      .count(this.fingerprint)
      .then((n) => {
        this.live = n;
        this.countedAt = Date.now();
      })
      .finally(() => {
        this.counting = undefined;
      });
    return this.counting;
  }
}
