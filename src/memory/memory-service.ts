// The memory service: what every tool does, independent of MCP. It opens the search index (in
// the background, retrying after a failure) and hands each call to its flow: validation.ts
// (input rules), write-flow.ts (store, update, delete), search-flow.ts (search and filters),
// model-migration.ts (a model change without downtime).
import { importRecords, type ImportOptions, type ImportSummary } from './import-flow.js';
import type { ImportRecord } from './transfer-format.js';
import { setImmediate as turn } from 'node:timers/promises';
import type { Limits } from '../config/limits.js';
import type { EmbeddingProvider } from '../embeddings/types.js';
import type { SearchIndex } from '../index/search-index.js';
import { EmbeddingError, MemoryError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { MemoryRecord, MemoryStore } from '../store/types.js';
import { ModelMigration, type MigrationStatus, type PreviousModel } from './model-migration.js';
import { keywordTerms } from '../store/keyword-query.js';
import {
  fuseHybrid,
  keywordRanking,
  semanticRanking,
  withRecords,
  type RankedHit,
  cutFarBelow,
  storeFilterOf,
  type SearchHit,
  type SearchMode,
  type SearchParams,
} from './search-flow.js';
import { listMemories, type ListOutcome, type ListParams } from './list-flow.js';
import { timeFilter } from './time-filter.js';
import { InputRules, invalid } from './validation.js';
import {
  WriteFlow,
  type StoreItem,
  type StoreOptions,
  type StoreOutcome,
  type UpdateParams,
  type WriteOptions,
} from './write-flow.js';

export { DEFAULT_NAMESPACE } from './validation.js';
export type { MigrationStatus, PreviousModel } from './model-migration.js';
export type { SearchHit, SearchMode, SearchParams } from './search-flow.js';
export type { ListOutcome, ListParams } from './list-flow.js';
export type { StoreItem, StoredItem, StoreOutcome, UpdateParams } from './write-flow.js';

export type ProviderInfo = {
  name: string;
  model: string;
  kind: 'semantic' | 'lexical';
  fingerprint: string | null;
  note: string;
};

export interface SearchOutcome {
  hits: SearchHit[];
  mode: SearchMode;
  /** The provider whose vectors ranked the semantic channel; null when that channel did not answer. */
  provider: ProviderInfo | null;
  /** What limited this answer (a channel unavailable, the keyword index still building). */
  notes: string[];
  /** Candidates examined to satisfy the filters. */
  examined: number;
  /** Set while a model change is in progress. */
  migration?: MigrationStatus;
}

export interface MemoryServiceDeps {
  store: MemoryStore;
  embedder: EmbeddingProvider;
  /** Makes the index manager for the configured provider (after its init()). */
  createIndex: (embedder: EmbeddingProvider) => SearchIndex;
  limits: Limits;
  logger: Logger;
  /** Called after a write that left memories waiting for an embedding. */
  onPending?: () => void;
  /** Cosine at or above which a stored memory is a near duplicate (default by provider kind). */
  duplicateThreshold?: number | undefined;
  /** During a model change: the previous model's index (frozen) and a provider for its space. */
  openPrevious?: (current: EmbeddingProvider) => Promise<PreviousModel | undefined>;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
}

/** Each channel's candidates in a hybrid search, at least (4k when that is more). */
const HYBRID_DEPTH = 40;

/**
 * How long a hybrid search waits for a search index that is still opening (a rebuild from the
 * store takes tens of seconds at 1M memories) before answering from the keyword channel alone.
 */
const HYBRID_OPEN_WAIT_MS = 3000;

/** After a failed open, calls fail at once with the same reason for this long before opening is retried. */
const RETRY_OPEN_MS = 5000;

export class MemoryService {
  readonly store: MemoryStore;
  readonly embedder: EmbeddingProvider;
  private readonly rules: InputRules;
  private readonly writes: WriteFlow;
  private readonly migration: ModelMigration;
  private index: SearchIndex | undefined;
  private opening: Promise<SearchIndex> | undefined;
  private lastOpenFailure: { at: number; error: unknown } | undefined;
  private writeFailure: { since: string; error: string; failures: number } | undefined;

  constructor(private readonly deps: MemoryServiceDeps) {
    this.store = deps.store;
    this.embedder = deps.embedder;
    this.rules = new InputRules(deps.limits, () => deps.embedder.maxInputChars);
    this.writes = new WriteFlow({
      store: deps.store,
      embedder: deps.embedder,
      rules: this.rules,
      limits: deps.limits,
      logger: deps.logger,
      index: () => this.index,
      onPending: deps.onPending,
      duplicateThreshold: deps.duplicateThreshold,
    });
    this.migration = new ModelMigration({
      store: deps.store,
      embedder: deps.embedder,
      logger: deps.logger,
      openPrevious: deps.openPrevious,
    });
  }

  /** The open index, opening it first if needed (tool calls that need it wait here). */
  ready(): Promise<SearchIndex> {
    if (this.index) return Promise.resolve(this.index);
    if (this.opening) return this.opening;
    if (this.lastOpenFailure && Date.now() - this.lastOpenFailure.at < RETRY_OPEN_MS) {
      return Promise.reject(this.unavailable(this.lastOpenFailure.error));
    }
    this.opening = (async () => {
      try {
        await this.embedder.init();
        const index = this.deps.createIndex(this.embedder);
        const report = await index.open();
        this.deps.logger.info('search index ready', { ...report });
        this.index = index;
        await this.migration.startIfNeeded(index);
        this.lastOpenFailure = undefined;
        return index;
      } catch (err) {
        this.lastOpenFailure = { at: Date.now(), error: err };
        this.deps.logger.error('search index could not be opened', { error: errorMessage(err) });
        throw this.unavailable(err);
      } finally {
        this.opening = undefined;
      }
    })();
    return this.opening;
  }

  /** ready(), or an INDEX_UNAVAILABLE error once `waitMs` have passed with the index still opening. */
  private readyWithin(waitMs: number | undefined): Promise<SearchIndex> {
    const opened = this.ready();
    if (this.index || waitMs === undefined) return opened;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new MemoryError('INDEX_UNAVAILABLE', `the search index is still opening after ${waitMs} ms`, {
              hint: 'index_health shows what it is doing; semantic results come back once it is ready',
            }),
          ),
        waitMs,
      );
    });
    return Promise.race([opened, late]).finally(() => clearTimeout(timer));
  }

  get openIndex(): SearchIndex | undefined {
    return this.index;
  }

  providerInfo(): ProviderInfo {
    let fingerprint: string | null;
    try {
      fingerprint = this.embedder.fingerprint;
    } catch {
      fingerprint = null; // dimension not known yet (endpoint not reached)
    }
    return {
      name: this.embedder.name,
      model: this.embedder.model,
      kind: this.embedder.kind,
      fingerprint,
      note:
        this.embedder.unavailable ??
        (this.embedder.kind === 'lexical'
          ? 'hash provider: lexical matching (shared words and word fragments), not semantic; install word vectors or configure OPENAI_API_KEY / OPENAI_BASE_URL for meaning-level search'
          : this.embedder.name === 'word-vectors'
            ? 'word-vectors provider: offline, meaning-level matching of words (GloVe-derived); word order is not taken into account'
            : 'semantic embeddings'),
    };
  }

  storeMemories(items: readonly StoreItem[], options: StoreOptions = {}): Promise<StoreOutcome> {
    return this.watchWrite(this.writes.store(items, options));
  }

  update(params: UpdateParams, options: WriteOptions = {}) {
    return this.watchWrite(this.writes.update(params, options));
  }

  delete(ids: readonly string[], options: CallOptions = {}): Promise<{ deleted: string[]; missing: string[] }> {
    return this.watchWrite(this.writes.delete(ids, options));
  }

  /** Store writes failing (disk full, read-only database): since when, and the last error; null once one succeeds. */
  storeWriteFailure(): { since: string; error: string; failures: number } | null {
    return this.writeFailure ?? null;
  }

  /** Health sees store writes failing: the first failure's time and the last error, cleared by a success. */
  private async watchWrite<T>(write: Promise<T>): Promise<T> {
    try {
      const result = await write;
      this.writeFailure = undefined;
      return result;
    } catch (err) {
      if (err instanceof MemoryError && err.code === 'STORE_FAILED') {
        this.writeFailure = {
          since: this.writeFailure?.since ?? new Date().toISOString(),
          error: errorMessage(err),
          failures: (this.writeFailure?.failures ?? 0) + 1,
        };
      }
      throw err;
    }
  }

  async get(ids: readonly string[]): Promise<{ memories: MemoryRecord[]; missing: string[] }> {
    this.rules.idList(ids);
    const memories = await this.store.get(ids);
    const found = new Set(memories.map((m) => m.id));
    return { memories, missing: [...new Set(ids)].filter((id) => !found.has(id)) };
  }

  async search(params: SearchParams, options: CallOptions = {}): Promise<SearchOutcome> {
    const k = this.rules.k(params.k ?? 10);
    this.rules.query(params.query);
    this.rules.filter(params);
    params = { ...params, times: timeFilter(params.time ?? {}) };
    const mode = params.mode ?? 'hybrid';
    const keyword = this.store.keyword;
    const notes: string[] = [];
    if (mode !== 'semantic' && !keyword) {
      if (mode === 'keyword') {
        throw invalid(`the ${this.store.kind} store has no keyword index`, 'use mode "semantic"');
      }
      notes.push(`the ${this.store.kind} store has no keyword index: semantic results only`);
    }
    if (keyword && mode !== 'semantic' && (await keyword.building())) {
      notes.push('the keyword index is still adding memories stored before it existed (index_health shows progress)');
    }
    const terms = keywordTerms(params.query);
    // Each channel ranks deeper than k when fused: a memory ranked 30th by one and 3rd by the other belongs in the top 10.
    const depth = mode === 'hybrid' ? Math.min(Math.max(4 * k, HYBRID_DEPTH), this.deps.limits.maxK * 4) : k;

    // The semantic channel starts first: its search runs in the FAISS thread (and a provider's
    // request on the network) while the keyword channel's query runs here.
    const semanticWork =
      mode === 'keyword'
        ? undefined
        : this.readyWithin(mode === 'hybrid' && keyword ? HYBRID_OPEN_WAIT_MS : undefined)
            .then((index) =>
              semanticRanking(
                { store: this.store, embedder: this.embedder, index, previous: this.migration.previous },
                { ...params, k: depth },
                options.signal,
              ),
            )
            .then(
              (found) => ({ found }),
              (error: unknown) => ({ error }),
            );
    let hits: RankedHit[];
    let examined = 0;
    let keywordFound: { hits: RankedHit[]; examined: number } | undefined;
    if (mode !== 'semantic' && keyword) {
      await turn(); // the semantic search is posted to the FAISS thread within these turns
      await turn();
      keywordFound = await keywordRanking(keyword, this.store, params, terms, depth);
      examined += keywordFound.examined;
    }
    const semantic = await semanticWork;
    let provider: ProviderInfo | null = null;
    if (semantic && 'error' in semantic) {
      // Hybrid keeps answering from the keyword channel while the provider or the index cannot.
      if (mode === 'semantic' || !keyword || options.signal?.aborted) throw semantic.error;
      notes.push(`semantic channel unavailable (${errorMessage(semantic.error)}): keyword results only`);
    } else if (semantic) {
      provider = this.providerInfo();
      examined += semantic.found.examined;
    }
    const semanticHits = semantic && 'found' in semantic ? semantic.found.hits : [];
    if (mode === 'semantic' || !keyword || !keywordFound) {
      hits = semanticHits.slice(0, k);
    } else if (mode === 'keyword') {
      hits = keywordFound.hits;
    } else {
      const filter = storeFilterOf(params);
      const promoted = new Set((await keyword.matchAll(terms.identifiers, depth, filter)).map((h) => h.id));
      hits = fuseHybrid(semanticHits, keywordFound.hits, promoted, k);
    }
    if (params.cut !== false) hits = cutFarBelow(hits, mode, this.embedder.kind === 'lexical' ? 0.5 : 0.6);
    const results = await withRecords(this.store, hits);
    const migration = this.migration.current;
    return { hits: results, mode, provider, notes, examined, ...(migration && provider ? { migration } : {}) };
  }

  /** Imports parsed file records (see import-flow.ts): all checked before the first write. */
  async importRecords(records: readonly ImportRecord[], options: ImportOptions = {}): Promise<ImportSummary> {
    await this.embedder.init(options.signal);
    return importRecords(
      { store: this.store, rules: this.rules, writes: this.writes, fingerprint: this.embedder.fingerprint },
      records,
      options,
    );
  }

  list(params: ListParams): Promise<ListOutcome> {
    this.rules.filter(params);
    return listMemories(this.store, params, this.deps.limits.maxK);
  }

  /** Where a model change stands (undefined when none is in progress). */
  migrationStatus(): MigrationStatus | undefined {
    return this.migration.current;
  }

  /** After embeddings were written: counts progress, and ends the model change once complete. */
  async checkMigration(): Promise<void> {
    if (this.index) await this.migration.check(this.index);
  }

  async close(): Promise<void> {
    // An open that fails has already been reported to the calls that waited for it.
    await this.opening?.catch(() => undefined);
    await this.migration.close();
    await this.index?.close();
  }

  private unavailable(err: unknown): MemoryError {
    if (err instanceof MemoryError && err.code === 'INDEX_UNAVAILABLE') return err;
    const hint =
      err instanceof EmbeddingError
        ? `${err.hint ?? 'check the embedding provider'}; stored memories are kept and become searchable once it answers`
        : 'check the server log; stored memories are kept';
    return new MemoryError('INDEX_UNAVAILABLE', `search is unavailable: ${errorMessage(err)}`, { cause: err, hint });
  }
}
