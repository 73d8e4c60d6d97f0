// The write flow: validate -> embed -> store (source of truth) -> catch the index up. A write
// is acknowledged only after the store committed it; when the embedding provider fails, the
// memory is stored as pending (never lost) and embedded later by the backfill job. A call
// cancelled before its commit writes nothing; one cancelled after it is committed as a whole.
import { randomUUID } from 'node:crypto';
import type { Limits } from '../config/limits.js';
import type { EmbeddingProvider } from '../embeddings/types.js';
import type { SearchIndex } from '../index/search-index.js';
import { throwIfAborted } from '../shared/abort.js';
import { MemoryError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { dupKey } from '../store/dup-key.js';
import type { MemoryRecord, MemoryStore, MemoryWrite, Metadata, StoredVector } from '../store/types.js';
import { DEFAULT_THRESHOLD, findSimilar, type OnDuplicate, type Similar } from './duplicates.js';
import { DEFAULT_NAMESPACE, invalid, notFound, type InputRules } from './validation.js';

export interface StoreItem {
  text: string;
  id?: string | undefined;
  namespace?: string | undefined;
  metadata?: Metadata | undefined;
  tags?: string[] | undefined;
}

export interface StoredItem {
  /** The memory this item is now: new, or the existing one it duplicates or was merged into. */
  id: string;
  status: 'created' | 'unchanged' | 'duplicate' | 'skipped' | 'updated';
  embedding: 'done' | 'pending' | 'failed';
  duplicate_of?: string;
  similar?: Similar[];
}

export interface StoreOutcome {
  items: StoredItem[];
  /** Set when the provider failed and the memories wait for the background embedder. */
  embeddingError?: string;
}

export interface UpdateParams {
  id: string;
  text?: string | undefined;
  metadata?: Metadata | undefined;
  tags?: string[] | undefined;
}

export interface WriteOptions {
  signal?: AbortSignal | undefined;
  onProgress?: ((done: number, total: number) => Promise<void> | void) | undefined;
}

export interface StoreOptions extends WriteOptions {
  /** A near duplicate found: keep both (default), skip the new one, or update the closest with it. */
  onDuplicate?: OnDuplicate | undefined;
}

export interface WriteDeps {
  store: MemoryStore;
  embedder: EmbeddingProvider;
  rules: InputRules;
  limits: Limits;
  logger: Logger;
  /** The open index, if any (a write never waits for the index to open). */
  index: () => SearchIndex | undefined;
  /** Called after a write that left memories waiting for an embedding. */
  onPending?: (() => void) | undefined;
  /** Cosine at or above which a stored memory is a near duplicate (default by provider kind). */
  duplicateThreshold?: number | undefined;
}

/** Calls of up to this many new memories look for near duplicates unless asked (see store()). */
const NEAR_CHECK_ITEMS = 20;

export class WriteFlow {
  constructor(private readonly d: WriteDeps) {}

  async store(items: readonly StoreItem[], options: StoreOptions = {}): Promise<StoreOutcome> {
    const { rules, limits, store } = this.d;
    if (items.length === 0) throw invalid('nothing to store', 'pass `text`, or `items` with at least one memory');
    if (items.length > limits.maxBatchItems) {
      throw invalid(`${items.length} items in one call; the limit is ${limits.maxBatchItems}`, 'split the batch');
    }
    const seen = new Set<string>();
    const writes = items.map((item, i) => {
      const where = items.length > 1 ? `items[${i}]: ` : '';
      rules.text(item.text, where);
      const id = item.id ?? randomUUID();
      rules.id(id, where);
      if (seen.has(id)) throw invalid(`${where}id "${id}" appears twice in this call`, 'give each memory its own id');
      seen.add(id);
      const metadata = item.metadata ?? {};
      rules.metadata(metadata, where);
      const tags = rules.tags(item.tags ?? [], where);
      const namespace = rules.namespace(item.namespace ?? DEFAULT_NAMESPACE, where);
      return { where, explicitId: item.id !== undefined, id, namespace, text: item.text, metadata, tags };
    });

    // Retries and exact duplicates: answered with the memory that exists, nothing written.
    const outcome: (StoredItem | undefined)[] = writes.map(() => undefined);
    // Only a caller's own id can exist already; a generated one is new.
    const given = writes.filter((w) => w.explicitId).map((w) => w.id);
    const existing = new Map((given.length > 0 ? await store.get(given) : []).map((r) => [r.id, r]));
    writes.forEach((w, i) => {
      const had = existing.get(w.id);
      if (!had) return;
      if (had.text !== w.text) {
        throw invalid(
          `${w.where}memory "${w.id}" exists with another text; memory_store never replaces a memory`,
          'use memory_update to change it, or omit id to store a new memory',
        );
      }
      outcome[i] = { id: w.id, status: 'unchanged', embedding: embeddingOf(had) };
    });
    const keyed = writes.map((w) => dupKey(w.text));
    const byNamespace = new Map<string, number[]>();
    writes.forEach((w, i) => {
      if (!w.explicitId) byNamespace.set(w.namespace, [...(byNamespace.get(w.namespace) ?? []), i]);
    });
    for (const [namespace, at] of byNamespace) {
      const found = await store.duplicatesOf(
        namespace,
        at.map((i) => keyed[i]!),
      );
      const firstInCall = new Map<string, number>();
      for (const i of at) {
        const earlier = found.get(keyed[i]!);
        const inCall = firstInCall.get(keyed[i]!);
        if (earlier !== undefined) {
          outcome[i] = { id: earlier, status: 'duplicate', duplicate_of: earlier, embedding: 'done' };
        } else if (inCall !== undefined) {
          outcome[i] = {
            id: writes[inCall]!.id,
            status: 'duplicate',
            duplicate_of: writes[inCall]!.id,
            embedding: 'done',
          };
        } else {
          firstInCall.set(keyed[i]!, i);
        }
      }
    }
    const duplicateIds = [...new Set(outcome.flatMap((o) => (o?.status === 'duplicate' ? [o.id] : [])))];
    if (duplicateIds.length > 0) {
      const states = new Map((await store.get(duplicateIds)).map((r) => [r.id, embeddingOf(r)]));
      for (const o of outcome) if (o?.status === 'duplicate') o.embedding = states.get(o.id) ?? o.embedding;
    }
    const fresh = writes.map((w, i) => ({ w, i })).filter(({ i }) => outcome[i] === undefined);
    await this.checkCapacity(fresh.length);
    const embedded = await this.embed(
      fresh.map(({ w }) => w.text),
      options,
    );

    // Near duplicates: listed, and skipped or merged into the closest when the call says so. Each
    // costs a nearest-neighbour search: bulk calls (more than NEAR_CHECK_ITEMS, e.g. a client
    // loading a collection) are checked only when they set on_duplicate.
    // An index still opening, or recovering from a lost FAISS worker, is not asked (as when none
    // is open): the write is acknowledged without the near-duplicate check.
    const index = this.d.index();
    const checkNear = options.onDuplicate !== undefined || fresh.length <= NEAR_CHECK_ITEMS;
    const similar =
      checkNear && embedded.vectors && index?.serving && index.fingerprint === embedded.vectors[0]?.fingerprint
        ? await findSimilar(
            index,
            store,
            fresh.map(({ w }, n) => ({ text: w.text, namespace: w.namespace, vector: embedded.vectors![n]!.vector })),
            this.d.duplicateThreshold ?? DEFAULT_THRESHOLD[this.d.embedder.kind],
            options.signal,
          ).catch((err: unknown) => {
            if (index.serving) throw err;
            this.d.logger.warn('near-duplicate check skipped: the search index is recovering', {
              error: errorMessage(err),
            });
            return fresh.map(() => []);
          })
        : fresh.map(() => []);
    const onDuplicate = options.onDuplicate ?? 'keep';
    const creates: MemoryWrite[] = [];
    const merges: { id: string; text: string; metadata: Metadata; tags: string[]; embedding: StoredVector | null }[] =
      [];
    fresh.forEach(({ w, i }, n) => {
      const near = similar[n] ?? [];
      const embedding = embedded.vectors?.[n] ?? null;
      const status = embedding ? 'done' : 'pending';
      const listed = near.length > 0 ? { similar: near } : {};
      if (near.length > 0 && onDuplicate === 'skip') {
        outcome[i] = { id: near[0]!.id, status: 'skipped', embedding: 'done', ...listed };
      } else if (near.length > 0 && onDuplicate === 'update') {
        merges.push({ id: near[0]!.id, text: w.text, metadata: w.metadata, tags: w.tags, embedding });
        outcome[i] = { id: near[0]!.id, status: 'updated', embedding: status, ...listed };
      } else {
        const { where: _w, explicitId: _e, ...write } = w;
        creates.push({ ...write, embedding, embeddingError: embedded.error });
        outcome[i] = { id: w.id, status: 'created', embedding: status, ...listed };
      }
    });
    throwIfAborted(options.signal); // cancelled before the commit: nothing is written
    if (creates.length > 0) await this.commit(() => store.upsert(creates));
    for (const m of merges) {
      await this.commit(() =>
        store.patch(m.id, {
          text: m.text,
          metadata: m.metadata,
          tags: m.tags,
          embedding: m.embedding,
          embeddingError: embedded.error,
        }),
      );
    }
    if (creates.length + merges.length > 0) await this.catchUpIndex(options.signal);
    if (!embedded.vectors && fresh.length > 0) this.d.onPending?.();
    return {
      items: outcome.map((o) => o!),
      ...(embedded.error !== undefined ? { embeddingError: embedded.error } : {}),
    };
  }

  async update(
    params: UpdateParams,
    options: WriteOptions = {},
  ): Promise<{ record: MemoryRecord; reembedded: boolean; embeddingError?: string }> {
    const { rules, store } = this.d;
    rules.id(params.id, '');
    if (params.text === undefined && params.metadata === undefined && params.tags === undefined) {
      throw invalid('nothing to update', 'pass text, metadata or tags');
    }
    if (params.text !== undefined) rules.text(params.text, '');
    if (params.metadata !== undefined) rules.metadata(params.metadata, '');
    const tags = params.tags !== undefined ? rules.tags(params.tags, '') : undefined;
    const [current] = await store.get([params.id]);
    if (!current) throw notFound(params.id);

    const textChanged = params.text !== undefined && params.text !== current.text;
    const embedded = textChanged ? await this.embed([params.text!], options) : undefined;
    throwIfAborted(options.signal);
    const record = await this.commit(() =>
      store.patch(params.id, {
        ...(textChanged
          ? { text: params.text!, embedding: embedded?.vectors?.[0] ?? null, embeddingError: embedded?.error }
          : {}),
        ...(params.metadata !== undefined ? { metadata: params.metadata } : {}),
        ...(tags !== undefined ? { tags } : {}),
      }),
    );
    if (!record) throw notFound(params.id);
    await this.catchUpIndex(options.signal);
    if (embedded && !embedded.vectors) this.d.onPending?.();
    return {
      record,
      reembedded: embedded?.vectors !== null && embedded !== undefined,
      ...(embedded?.error !== undefined ? { embeddingError: embedded.error } : {}),
    };
  }

  async delete(ids: readonly string[], options: WriteOptions = {}): Promise<{ deleted: string[]; missing: string[] }> {
    this.d.rules.idList(ids);
    throwIfAborted(options.signal);
    const deleted = await this.commit(() => this.d.store.delete(ids));
    await this.catchUpIndex(options.signal);
    const gone = new Set(deleted);
    return { deleted, missing: [...new Set(ids)].filter((id) => !gone.has(id)) };
  }

  /**
   * The vectors of `texts`, in provider-sized batches, or null with the reason when the provider
   * failed (the memories are then stored as pending). A cancellation is not a provider failure:
   * it propagates, and nothing is written.
   */
  async embed(texts: string[], options: WriteOptions): Promise<{ vectors: StoredVector[] | null; error?: string }> {
    const { embedder, logger } = this.d;
    try {
      await embedder.init(options.signal);
      const vectors: StoredVector[] = [];
      const step = embedder.maxBatchSize;
      for (let start = 0; start < texts.length; start += step) {
        const chunk = await embedder.embed(texts.slice(start, start + step), options.signal);
        for (const vector of chunk) vectors.push({ vector, fingerprint: embedder.fingerprint });
        await options.onProgress?.(Math.min(start + step, texts.length), texts.length);
      }
      return { vectors };
    } catch (err) {
      throwIfAborted(options.signal);
      const error = errorMessage(err);
      logger.warn('embedding failed; storing as pending', { error, count: texts.length });
      return { vectors: null, error };
    }
  }

  /** Makes a committed write visible to searches before it is acknowledged. */
  async catchUpIndex(signal: AbortSignal | undefined): Promise<void> {
    const index = this.d.index();
    if (!index) return; // still opening: opening catches up with the store itself
    try {
      await index.sync(signal);
    } catch (err) {
      // The write is committed; the next search retries the catch-up.
      this.d.logger.error('index catch-up failed after a write', { error: errorMessage(err) });
    }
  }

  async commit<T>(write: () => Promise<T>): Promise<T> {
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
  async checkCapacity(added: number): Promise<void> {
    if (added <= 0) return;
    const { maxMemories, maxIndexBytes } = this.d.limits;
    const total = await this.d.store.count();
    if (total + added > maxMemories) {
      throw new MemoryError(
        'TOO_LARGE',
        `the store holds ${total} memories; ${added} more would pass the limit of ${maxMemories}`,
        { hint: 'delete memories you no longer need, or raise MEMORY_MAX_MEMORIES' },
      );
    }
    const index = this.d.index();
    if (index) {
      const bytes = (index.vectorCount + added) * index.dimension * 4;
      if (bytes > maxIndexBytes) {
        throw new MemoryError(
          'TOO_LARGE',
          `the search index would need ${bytes} bytes of vectors; the limit is ${maxIndexBytes}`,
          { hint: 'delete memories you no longer need, or raise MEMORY_MAX_INDEX_BYTES' },
        );
      }
    }
  }
}

function embeddingOf(r: MemoryRecord): StoredItem['embedding'] {
  return r.embedding.status;
}
