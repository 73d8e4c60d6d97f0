// A model change without downtime. The store keeps one vector per memory, so the old model's
// vectors disappear from it as the backfill re-embeds; its index snapshot still holds them all.
// While the change runs, searches also use that snapshot (frozen) through a provider that
// embeds queries in its space, and the two rankings are merged by rank (their scores are not
// comparable). The change ends, and the old snapshot is deleted, once every memory that has a
// vector has the new model's.
import type { EmbeddingProvider } from '../embeddings/types.js';
import type { SearchIndex } from '../index/search-index.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { embeddedCount } from '../shared/embedded-count.js';
import type { MemoryStore } from '../store/types.js';

/** The model being replaced, serving searches until every memory carries the new model's vector. */
export interface PreviousModel {
  index: SearchIndex;
  embedder: EmbeddingProvider;
}

export interface MigrationStatus {
  from: string;
  to: string;
  /** Memories embedded by the new model, of all memories that have or will have a vector. */
  done: number;
  total: number;
  /** Searches are answered from both indexes, merged by rank; false: only the new, partial index. */
  servingPrevious: boolean;
}

export interface MigrationDeps {
  store: MemoryStore;
  embedder: EmbeddingProvider;
  logger: Logger;
  /** The previous model's index (frozen) and a provider for its space, or undefined when either cannot be had. */
  openPrevious?: ((current: EmbeddingProvider) => Promise<PreviousModel | undefined>) | undefined;
}

export class ModelMigration {
  private status: MigrationStatus | undefined;
  private prev: PreviousModel | undefined;

  constructor(private readonly deps: MigrationDeps) {}

  /** Where a model change stands (undefined when none is in progress). */
  get current(): MigrationStatus | undefined {
    // The previous index serves unless it is recovering from a lost FAISS worker (or failed to).
    return (
      this.status && {
        ...this.status,
        servingPrevious: this.status.servingPrevious && this.prev?.index.serving === true,
      }
    );
  }

  /** The previous model, while it serves searches. */
  get previous(): PreviousModel | undefined {
    return this.prev;
  }

  /** On open: memories still carry another model's vectors. */
  async startIfNeeded(index: SearchIndex): Promise<void> {
    const { store, logger } = this.deps;
    await index.sync();
    // The cheap count first (this runs on every start, before the first search); the per-model
    // count only when it suggests a change, so that a write racing the opening is not taken for one.
    const stats = await store.stats();
    if (stats.done <= index.liveCount) return;
    const mine = await embeddedCount(store, index.fingerprint);
    if (stats.done <= mine) return;
    const status: MigrationStatus = {
      from: 'unknown',
      to: index.fingerprint,
      done: index.liveCount,
      total: stats.done + stats.pending,
      servingPrevious: false,
    };
    this.status = status;
    try {
      this.prev = await this.deps.openPrevious?.(this.deps.embedder);
    } catch (err) {
      logger.warn('the previous model cannot serve searches during the model change', { error: errorMessage(err) });
    }
    if (this.prev) {
      status.from = this.prev.index.fingerprint;
      status.servingPrevious = true;
    }
    logger.info('model change in progress: re-embedding in the background', { ...status });
  }

  /** After embeddings were written: counts progress, and ends the change once complete. */
  async check(index: SearchIndex): Promise<void> {
    const m = this.status;
    if (!m) return;
    await index.sync();
    const stats = await this.deps.store.stats();
    m.done = index.liveCount;
    m.total = Math.max(m.done, stats.done + stats.pending);
    if (stats.pending > 0 || m.done < stats.done) return;
    const previous = this.prev;
    this.prev = undefined;
    this.status = undefined;
    if (previous) await previous.index.discard();
    this.deps.logger.info('model change complete: searching the new model only', {
      from: m.from,
      to: m.to,
      memories: m.done,
    });
  }

  async close(): Promise<void> {
    await this.prev?.index.close();
  }
}
