// The memory service: what every tool does, independent of MCP. It owns the write and
// search flows: validate -> embed -> store (source of truth) -> catch the index up.
// A write is acknowledged only after the store committed it; when the embedding provider
// fails, the memory is stored as pending (never lost) and embedded later by the backfill job.
import { randomUUID } from 'node:crypto';
import type { EmbeddingProvider } from '../embeddings/types.js';
import { EmbeddingError, MemoryError, errorMessage } from '../shared/errors.js';
import type { Hit, IndexManager } from '../index/index-manager.js';
import type { Limits } from '../config/limits.js';
import type { Logger } from '../shared/logger.js';
import type { JsonValue, MemoryRecord, MemoryStore, Metadata } from '../store/types.js';

export const DEFAULT_NAMESPACE = 'default';

export interface StoreItem {
  text: string;
  id?: string | undefined;
  namespace?: string | undefined;
  metadata?: Metadata | undefined;
  tags?: string[] | undefined;
}

export interface StoredItem {
  id: string;
  status: 'created' | 'updated';
  embedding: 'done' | 'pending';
}

export interface StoreOutcome {
  items: StoredItem[];
  /** Set when the provider failed and the memories wait for the background embedder. */
  embeddingError?: string;
}

export interface SearchParams {
  query: string;
  k?: number | undefined;
  namespace?: string | undefined;
  tags?: string[] | undefined;
  filter?: Record<string, JsonValue> | undefined;
  minScore?: number | undefined;
}

export interface SearchHit {
  record: MemoryRecord;
  score: number;
}

export interface ProviderInfo {
  name: string;
  model: string;
  kind: 'semantic' | 'lexical';
  fingerprint: string | null;
  note: string;
}

export interface SearchOutcome {
  hits: SearchHit[];
  provider: ProviderInfo;
  /** Candidates examined to satisfy the filters. */
  examined: number;
  /** Set while a model change is in progress. */
  migration?: MigrationStatus;
}

export interface UpdateParams {
  id: string;
  text?: string | undefined;
  metadata?: Metadata | undefined;
  tags?: string[] | undefined;
}

export interface IndexOpener {
  (embedder: EmbeddingProvider): IndexManager;
}

export interface MemoryServiceDeps {
  store: MemoryStore;
  embedder: EmbeddingProvider;
  createIndex: IndexOpener;
  limits: Limits;
  logger: Logger;
  /** Called after a write that left memories waiting for an embedding. */
  onPending?: () => void;
  /**
   * During a model change: the previous model's index (frozen, as its snapshot was) and a
   * provider that embeds queries in its space, or undefined when either cannot be had.
   */
  openPrevious?: (current: EmbeddingProvider) => Promise<PreviousModel | undefined>;
}

/** The model being replaced, serving searches until every memory carries the new model's vector. */
export interface PreviousModel {
  index: IndexManager;
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

const RETRY_OPEN_MS = 5000;
/** Reciprocal rank fusion constant (the usual 60). */
const RRF_K = 60;

export class MemoryService {
  readonly store: MemoryStore;
  readonly embedder: EmbeddingProvider;
  private readonly deps: MemoryServiceDeps;
  private index: IndexManager | undefined;
  private opening: Promise<IndexManager> | undefined;
  private lastOpenFailure: { at: number; error: unknown } | undefined;
  private previous: PreviousModel | undefined;
  private migration: MigrationStatus | undefined;

  constructor(deps: MemoryServiceDeps) {
    this.deps = deps;
    this.store = deps.store;
    this.embedder = deps.embedder;
  }

  /** Starts opening the index in the background; tool calls wait for it when they need it. */
  start(): void {
    this.ready().catch(() => {
      // Reported by ready() to the calls that need the index, and logged below.
    });
  }

  /** The open index, opening it first if needed. */
  ready(): Promise<IndexManager> {
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
        await this.startMigrationIfNeeded(index);
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

  get openIndex(): IndexManager | undefined {
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
        this.embedder.kind === 'lexical'
          ? 'hash provider: lexical matching (shared words and word fragments), not semantic; install word vectors or configure OPENAI_API_KEY / OPENAI_BASE_URL for meaning-level search'
          : this.embedder.name === 'word-vectors'
            ? 'word-vectors provider: offline, meaning-level matching of words (GloVe-derived); word order is not taken into account'
            : 'semantic embeddings',
    };
  }

  async storeMemories(
    items: readonly StoreItem[],
    options: { onProgress?: (done: number, total: number) => Promise<void> | void } = {},
  ): Promise<StoreOutcome> {
    const { limits } = this.deps;
    if (items.length === 0) throw invalid('nothing to store', 'pass `text`, or `items` with at least one memory');
    if (items.length > limits.maxBatchItems) {
      throw invalid(`${items.length} items in one call; the limit is ${limits.maxBatchItems}`, 'split the batch');
    }
    const seen = new Set<string>();
    const writes = items.map((item, i) => {
      const where = items.length > 1 ? `items[${i}]: ` : '';
      this.checkText(item.text, where);
      const id = item.id ?? randomUUID();
      this.checkId(id, where);
      if (seen.has(id)) throw invalid(`${where}id "${id}" appears twice in this call`, 'give each memory its own id');
      seen.add(id);
      const metadata = item.metadata ?? {};
      this.checkMetadata(metadata, where);
      const tags = this.checkTags(item.tags ?? [], where);
      const namespace = this.checkNamespace(item.namespace ?? DEFAULT_NAMESPACE, where);
      return { id, namespace, text: item.text, metadata, tags };
    });

    const existing = new Set((await this.store.get(writes.map((w) => w.id))).map((r) => r.id));
    await this.checkCapacity(writes.length - existing.size);
    let vectors: Float32Array[] | null = null;
    let embeddingError: string | undefined;
    try {
      await this.embedder.init();
      vectors = [];
      const step = this.embedder.maxBatchSize;
      for (let start = 0; start < writes.length; start += step) {
        const chunk = writes.slice(start, start + step).map((w) => w.text);
        vectors.push(...(await this.embedder.embed(chunk)));
        await options.onProgress?.(Math.min(start + step, writes.length), writes.length);
      }
    } catch (err) {
      vectors = null;
      embeddingError = errorMessage(err);
      this.deps.logger.warn('embedding failed; storing as pending', { error: embeddingError, count: writes.length });
    }
    const fingerprint = vectors ? this.embedder.fingerprint : '';
    await this.writeStore(() =>
      this.store.upsert(
        writes.map((w, i) => ({
          ...w,
          embedding: vectors ? { vector: vectors[i]!, fingerprint } : null,
          embeddingError,
        })),
      ),
    );
    await this.catchUpIndex();
    if (!vectors) this.deps.onPending?.();
    return {
      items: writes.map((w) => ({
        id: w.id,
        status: existing.has(w.id) ? 'updated' : 'created',
        embedding: vectors ? 'done' : 'pending',
      })),
      ...(embeddingError !== undefined ? { embeddingError } : {}),
    };
  }

  async search(params: SearchParams): Promise<SearchOutcome> {
    const k = params.k ?? 10;
    if (!Number.isInteger(k) || k < 1 || k > this.deps.limits.maxK) {
      throw invalid(`k must be a whole number from 1 to ${this.deps.limits.maxK} (got ${k})`, 'pass a smaller k');
    }
    if (params.query.trim().length === 0) throw invalid('query is empty', 'pass the words to search for');
    this.checkText(params.query, 'query: ');
    const index = await this.ready();
    const previous = this.previous;
    // During a model change the query is embedded by both models; if the new one fails, the
    // previous model's index alone still answers.
    const [mine, theirs] = await Promise.allSettled([
      this.embedder.embed([params.query]).then(([v]) => v!),
      previous ? previous.embedder.embed([params.query]).then(([v]) => v!) : Promise.resolve(undefined),
    ]);
    const previousVector = theirs.status === 'fulfilled' ? theirs.value : undefined;
    if (mine.status === 'rejected' && (!previous || !previousVector)) {
      throw asEmbeddingFailure(mine.reason, 'could not embed the query');
    }
    const queryVector = mine.status === 'fulfilled' ? mine.value : undefined;

    const wantTags = params.tags ?? [];
    const filterEntries = Object.entries(params.filter ?? {});
    const filtering = params.namespace !== undefined || wantTags.length > 0 || filterEntries.length > 0;
    const accept = (r: MemoryRecord): boolean =>
      (params.namespace === undefined || r.namespace === params.namespace) &&
      wantTags.every((t) => r.tags.includes(t)) &&
      filterEntries.every(([key, value]) => key in r.metadata && jsonEqual(r.metadata[key]!, value));
    const first = filtering ? Math.max(k * 4, 50) : k;

    const current = queryVector
      ? await this.candidates(index, queryVector, first, k, accept, params.minScore)
      : { hits: [], examined: 0 };
    if (!previous || !previousVector) {
      return { hits: current.hits, provider: this.providerInfo(), examined: current.examined, ...this.migrationInfo() };
    }
    // A model change in progress: the previous model's index still knows every memory it knew
    // (minus those deleted or edited since: their old vector no longer matches their text);
    // the new one knows what was re-embedded or written since. The two score spaces are not
    // comparable, so the lists are merged by rank (reciprocal rank fusion).
    const old = await this.candidates(previous.index, previousVector, first, k, accept, params.minScore, true);
    const fused = new Map<string, { hit: SearchHit; rrf: number }>();
    for (const list of [old.hits, current.hits]) {
      list.forEach((hit, rank) => {
        const seen = fused.get(hit.record.id);
        const rrf = 1 / (RRF_K + rank + 1);
        if (seen) seen.rrf += rrf;
        else fused.set(hit.record.id, { hit, rrf });
      });
    }
    const hits = [...fused.values()]
      .sort((a, b) => b.rrf - a.rrf)
      .slice(0, k)
      .map((f) => f.hit);
    return { hits, provider: this.providerInfo(), examined: current.examined + old.examined, ...this.migrationInfo() };
  }

  /**
   * The best `k` records of one index that pass the filters. With filters it asks for more
   * candidates than k and widens until k pass or the whole index was examined: a filter never
   * hides a match that exists. `checkText`: drop hits whose vector was made from another text
   * than the record's current one (the previous model's frozen index).
   */
  private async candidates(
    index: IndexManager,
    vector: Float32Array,
    first: number,
    k: number,
    accept: (r: MemoryRecord) => boolean,
    minScore: number | undefined,
    checkText = false,
  ): Promise<{ hits: SearchHit[]; examined: number }> {
    // (The index clamps k to its size; fetch never drops to 0, or a search racing the index's
    // first catch-up could widen 0 x 4 forever.)
    let fetch = first;
    let hits: Hit[];
    let out: SearchHit[];
    for (;;) {
      [hits] = (await index.search([vector], fetch)) as [Hit[]];
      const records = new Map((await this.store.get(hits.map((h) => h.id))).map((r) => [r.id, r]));
      out = [];
      for (const h of hits) {
        const r = records.get(h.id);
        if (!r || !accept(r)) continue;
        if (checkText && !r.contentHash.startsWith(h.hash ?? '\u0000')) continue;
        if (minScore !== undefined && h.score < minScore) continue;
        out.push({ record: r, score: h.score });
        if (out.length === k) break;
      }
      const lastScore = hits[hits.length - 1]?.score ?? -Infinity;
      const belowFloor = minScore !== undefined && lastScore < minScore;
      if (out.length >= k || hits.length < fetch || fetch >= index.liveCount || belowFloor) break;
      fetch *= 4;
    }
    return { hits: out, examined: hits.length };
  }

  /** Where a model change stands (undefined when none is in progress). */
  migrationStatus(): MigrationStatus | undefined {
    return this.migration;
  }

  private migrationInfo(): { migration?: MigrationStatus } {
    return this.migration ? { migration: this.migration } : {};
  }

  /**
   * On open: memories still carry another model's vectors. Serve searches from that model's
   * index too (frozen) until the backfill has re-embedded every memory.
   */
  private async startMigrationIfNeeded(index: IndexManager): Promise<void> {
    await index.sync();
    // Memories whose vector another model made. The cheap count first (this runs on every start,
    // before the first search); the per-model count only when it suggests one, so that a write
    // racing the index's opening is not taken for a model change.
    const stats = await this.store.stats();
    if (stats.done <= index.liveCount) return;
    const mine = (await this.store.embeddingCounts(index.fingerprint)).reduce((n, c) => n + c.done, 0);
    if (stats.done <= mine) return;
    this.migration = {
      from: 'unknown',
      to: index.fingerprint,
      done: index.liveCount,
      total: stats.done + stats.pending,
      servingPrevious: false,
    };
    try {
      this.previous = await this.deps.openPrevious?.(this.embedder);
    } catch (err) {
      this.deps.logger.warn('the previous model cannot serve searches during the model change', {
        error: errorMessage(err),
      });
    }
    if (this.previous) {
      this.migration.from = this.previous.index.fingerprint;
      this.migration.servingPrevious = true;
    }
    this.deps.logger.info('model change in progress: re-embedding in the background', { ...this.migration });
  }

  /** After embeddings were written: counts progress, and ends the model change once complete. */
  async checkMigration(): Promise<void> {
    const m = this.migration;
    const index = this.index;
    if (!m || !index) return;
    await index.sync();
    const stats = await this.store.stats();
    m.done = index.liveCount;
    m.total = Math.max(m.done, stats.done + stats.pending);
    if (stats.pending > 0 || m.done < stats.done) return;
    // Every memory that has a vector has the new model's: the new index is complete.
    const previous = this.previous;
    this.previous = undefined;
    this.migration = undefined;
    if (previous) await previous.index.discard();
    this.deps.logger.info('model change complete: searching the new model only', {
      from: m.from,
      to: m.to,
      memories: m.done,
    });
  }

  async get(ids: readonly string[]): Promise<{ memories: MemoryRecord[]; missing: string[] }> {
    this.checkIdList(ids);
    const memories = await this.store.get(ids);
    const found = new Set(memories.map((m) => m.id));
    return { memories, missing: [...new Set(ids)].filter((id) => !found.has(id)) };
  }

  async update(params: UpdateParams): Promise<{ record: MemoryRecord; reembedded: boolean; embeddingError?: string }> {
    this.checkId(params.id, '');
    if (params.text === undefined && params.metadata === undefined && params.tags === undefined) {
      throw invalid('nothing to update', 'pass text, metadata or tags');
    }
    if (params.text !== undefined) this.checkText(params.text, '');
    if (params.metadata !== undefined) this.checkMetadata(params.metadata, '');
    const tags = params.tags !== undefined ? this.checkTags(params.tags, '') : undefined;
    const [current] = await this.store.get([params.id]);
    if (!current) throw notFound(params.id);

    const textChanged = params.text !== undefined && params.text !== current.text;
    let embedding: { vector: Float32Array; fingerprint: string } | null | undefined;
    let embeddingError: string | undefined;
    if (textChanged) {
      try {
        await this.embedder.init();
        const [vector] = (await this.embedder.embed([params.text!])) as [Float32Array];
        embedding = { vector, fingerprint: this.embedder.fingerprint };
      } catch (err) {
        embeddingError = errorMessage(err);
        embedding = null;
      }
    }
    const record = await this.writeStore(() =>
      this.store.patch(params.id, {
        ...(textChanged ? { text: params.text!, embedding: embedding ?? null, embeddingError } : {}),
        ...(params.metadata !== undefined ? { metadata: params.metadata } : {}),
        ...(tags !== undefined ? { tags } : {}),
      }),
    );
    if (!record) throw notFound(params.id);
    await this.catchUpIndex();
    if (embedding === null) this.deps.onPending?.();
    return { record, reembedded: textChanged && embedding !== null, ...(embeddingError ? { embeddingError } : {}) };
  }

  async delete(ids: readonly string[]): Promise<{ deleted: string[]; missing: string[] }> {
    this.checkIdList(ids);
    const deleted = await this.writeStore(() => this.store.delete(ids));
    await this.catchUpIndex();
    const gone = new Set(deleted);
    return { deleted, missing: [...new Set(ids)].filter((id) => !gone.has(id)) };
  }

  async close(): Promise<void> {
    await this.opening?.catch(() => undefined);
    await this.previous?.index.close();
    await this.index?.close();
  }

  /** Makes a committed write visible to searches before it is acknowledged. */
  private async catchUpIndex(): Promise<void> {
    if (!this.index) return; // still opening: open() catches up with the store itself
    try {
      await this.index.sync();
    } catch (err) {
      // The write is committed; the next search retries the catch-up.
      this.deps.logger.error('index catch-up failed after a write', { error: errorMessage(err) });
    }
  }

  private async writeStore<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      if (err instanceof MemoryError) throw err;
      throw new MemoryError('STORE_FAILED', `the store rejected the write: ${errorMessage(err)}`, {
        cause: err,
        hint: 'nothing was changed; try again',
      });
    }
  }

  /** Refuses writes beyond the configured size limits, before they can exhaust memory. */
  private async checkCapacity(added: number): Promise<void> {
    if (added <= 0) return;
    const { maxMemories, maxIndexBytes } = this.deps.limits;
    const total = await this.store.count();
    if (total + added > maxMemories) {
      throw new MemoryError(
        'TOO_LARGE',
        `the store holds ${total} memories; ${added} more would pass the limit of ${maxMemories}`,
        { hint: 'delete memories you no longer need, or raise MEMORY_MAX_MEMORIES' },
      );
    }
    if (this.index) {
      const bytes = (this.index.vectorCount + added) * this.index.dimension * 4;
      if (bytes > maxIndexBytes) {
        throw new MemoryError(
          'TOO_LARGE',
          `the search index would need ${bytes} bytes of vectors; the limit is ${maxIndexBytes}`,
          { hint: 'delete memories you no longer need, or raise MEMORY_MAX_INDEX_BYTES' },
        );
      }
    }
  }

  private unavailable(err: unknown): MemoryError {
    if (err instanceof MemoryError && err.code === 'INDEX_UNAVAILABLE') return err;
    const hint =
      err instanceof EmbeddingError
        ? `${err.hint ?? 'check the embedding provider'}; stored memories are kept and become searchable once it answers`
        : 'check the server log; stored memories are kept';
    return new MemoryError('INDEX_UNAVAILABLE', `search is unavailable: ${errorMessage(err)}`, { cause: err, hint });
  }

  private checkText(text: string, where: string): void {
    if (text.trim().length === 0) throw invalid(`${where}text is empty`, 'pass the text to remember');
    const max = Math.min(this.deps.limits.maxTextChars, this.embedder.maxInputChars);
    if (text.length > max) {
      throw new MemoryError('TOO_LARGE', `${where}text has ${text.length} characters; the limit is ${max}`, {
        hint: 'split it into several shorter memories',
      });
    }
  }

  private checkId(id: string, where: string): void {
    if (id.length === 0 || id.length > this.deps.limits.maxIdChars || id.trim() !== id) {
      throw invalid(
        `${where}id must be 1 to ${this.deps.limits.maxIdChars} characters without surrounding spaces`,
        'omit id to get a generated one',
      );
    }
  }

  private checkIdList(ids: readonly string[]): void {
    if (ids.length === 0) throw invalid('no ids given', 'pass `id` or a non-empty `ids`');
    if (ids.length > this.deps.limits.maxBatchItems) {
      throw invalid(`${ids.length} ids in one call; the limit is ${this.deps.limits.maxBatchItems}`, 'split the list');
    }
    for (const id of ids) this.checkId(id, '');
  }

  private checkNamespace(namespace: string, where: string): string {
    if (!/^[\w.:/-]{1,128}$/u.test(namespace)) {
      throw invalid(
        `${where}namespace must be 1 to 128 letters, digits or . _ : / -`,
        `omit it to use "${DEFAULT_NAMESPACE}"`,
      );
    }
    return namespace;
  }

  private checkMetadata(metadata: Metadata, where: string): void {
    const bytes = Buffer.byteLength(JSON.stringify(metadata), 'utf8');
    if (bytes > this.deps.limits.maxMetadataBytes) {
      throw new MemoryError(
        'TOO_LARGE',
        `${where}metadata is ${bytes} bytes of JSON; the limit is ${this.deps.limits.maxMetadataBytes}`,
        { hint: 'keep metadata small; put long content in the text' },
      );
    }
  }

  private checkTags(tags: readonly string[], where: string): string[] {
    const { maxTags, maxTagChars } = this.deps.limits;
    if (tags.length > maxTags) throw invalid(`${where}${tags.length} tags; the limit is ${maxTags}`, 'use fewer tags');
    for (const t of tags) {
      if (t.trim().length === 0 || t.length > maxTagChars) {
        throw invalid(`${where}each tag must be 1 to ${maxTagChars} characters`, 'remove empty or long tags');
      }
    }
    return [...new Set(tags)];
  }
}

function invalid(message: string, hint: string): MemoryError {
  return new MemoryError('INVALID_INPUT', message, { hint });
}

function notFound(id: string): MemoryError {
  return new MemoryError('NOT_FOUND', `no memory has id "${id}"`, {
    hint: 'use memory_search to find the right id',
  });
}

function asEmbeddingFailure(err: unknown, what: string): MemoryError {
  if (err instanceof MemoryError) {
    return new MemoryError(err.code, `${what}: ${err.message}`, {
      cause: err,
      ...(err.hint !== undefined ? { hint: err.hint } : {}),
    });
  }
  return new MemoryError('EMBEDDING_UNAVAILABLE', `${what}: ${errorMessage(err)}`, { cause: err });
}

function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]!));
  const ao = a as Record<string, JsonValue>;
  const bo = b as Record<string, JsonValue>;
  const ak = Object.keys(ao);
  return ak.length === Object.keys(bo).length && ak.every((key) => key in bo && jsonEqual(ao[key]!, bo[key]!));
}
