// The search flow. Two channels rank memories: semantic (embed the query, nearest vectors in the
// index) and keyword (the store's full-text index, BM25). With filters a channel loads its
// candidates from the store (the source of truth) to apply them, asking for more than it needs
// and widening until enough pass or nothing is left, so a filter never hides a match; without,
// the channels rank ids and only the results are loaded.
// Hybrid (the default) merges the two rankings by reciprocal rank fusion and puts first the
// memories that hold every identifier of the query (ticket codes, hostnames, versions, names),
// which vectors cannot tell apart. During a model change the semantic channel is itself the
// fusion of the previous and the new model's indexes.
import type { EmbeddingProvider } from '../embeddings/types.js';
import type { Hit, SearchIndex } from '../index/search-index.js';
import { MemoryError, errorMessage } from '../shared/errors.js';
import type { KeywordTerms } from '../store/keyword-query.js';
import type { JsonValue, KeywordIndex, MemoryRecord, MemoryStore, RecordFilter } from '../store/types.js';
import { withinTimes, type TimeBounds } from './time-filter.js';
import type { PreviousModel } from './model-migration.js';

/** Reciprocal rank fusion constant (the usual 60). */
const RRF_K = 60;

export type SearchMode = 'hybrid' | 'semantic' | 'keyword';

export interface SearchParams {
  query: string;
  mode?: SearchMode | undefined;
  k?: number | undefined;
  namespace?: string | undefined;
  tags?: string[] | undefined;
  filter?: Record<string, JsonValue> | undefined;
  minScore?: number | undefined;
  /** Creation and update bounds as given (ISO 8601 or a duration back from now). */
  time?: TimeBounds | undefined;
  /** The same bounds resolved to ISO 8601 UTC (the service sets it). */
  times?: RecordFilter | undefined;
  /** false: pad to k even far below the best (the retrieval bench measures the cut this way). */
  cut?: boolean | undefined;
}

/** Where a result stood in one channel: its rank (1 = best) and that channel's score. */
export interface ChannelRank {
  rank: number;
  score: number;
}

/** A ranked memory: its record is loaded by a channel that filters on it, else once it is a result. */
export interface RankedHit {
  id: string;
  record?: MemoryRecord;
  /** The mode's score: cosine (semantic), BM25 (keyword) or the fused score (hybrid). */
  score: number;
  semantic?: ChannelRank;
  keyword?: ChannelRank;
  /** Holds every identifier of the query (hybrid puts these first). */
  promoted?: boolean;
}

export interface SearchHit extends RankedHit {
  record: MemoryRecord;
}

export interface SearchDeps {
  store: MemoryStore;
  embedder: EmbeddingProvider;
  index: SearchIndex;
  previous: PreviousModel | undefined;
}

/** The semantic channel: the best `k` memories by cosine that pass the filters. */
export async function semanticRanking(
  deps: SearchDeps,
  params: SearchParams & { k: number },
  signal?: AbortSignal,
): Promise<{ hits: RankedHit[]; examined: number }> {
  const { embedder, index, previous } = deps;
  const { k } = params;
  // During a model change the query is embedded by both models; if the new one fails, the
  // previous model's index alone still answers.
  const [mine, theirs] = await Promise.allSettled([
    embedder.embed([params.query], signal).then(([v]) => v!),
    previous ? previous.embedder.embed([params.query], signal).then(([v]) => v!) : Promise.resolve(undefined),
  ]);
  const previousVector = theirs.status === 'fulfilled' ? theirs.value : undefined;
  if (mine.status === 'rejected' && (!previous || !previousVector)) {
    throw asEmbeddingFailure(mine.reason, 'could not embed the query');
  }
  const accept = filterOf(params);
  const test = accept.filtering ? accept.test : undefined;
  const first = accept.filtering ? Math.max(k * 4, 50) : k;
  const current =
    mine.status === 'fulfilled'
      ? await candidates(deps.store, index, mine.value, first, k, test, params.minScore, false, signal)
      : { hits: [], examined: 0 };
  // (A previous index recovering from a lost FAISS worker, or failed to, is left out meanwhile.)
  if (!previous || !previousVector || !previous.index.serving) return current;
  // The previous model's index still knows every memory it knew (minus those deleted or edited
  // since: their old vector no longer matches their text); the new one knows what was
  // re-embedded or written since.
  const old = await candidates(
    deps.store,
    previous.index,
    previousVector,
    first,
    k,
    test,
    params.minScore,
    true,
    signal,
  );
  return { hits: fuseByRank([old.hits, current.hits], k), examined: current.examined + old.examined };
}

/**
 * The keyword channel: the best `k` memories by BM25 that pass the filters. Namespace and tags
 * are applied by the store inside its query; metadata equality here, widening the store's limit
 * until `k` pass or the matches run out.
 */
export async function keywordRanking(
  keyword: KeywordIndex,
  store: MemoryStore,
  params: SearchParams,
  terms: KeywordTerms,
  k: number,
): Promise<{ hits: RankedHit[]; examined: number }> {
  const storeFilter = storeFilterOf(params);
  const accept = filterOf(params).test;
  const metadataFiltered = Object.keys(params.filter ?? {}).length > 0;
  // (Namespace, tags and times are applied by the store; only metadata equality is left here.)
  let limit = metadataFiltered ? Math.max(k * 4, 50) : k;
  for (;;) {
    const found = await keyword.search(terms, limit, storeFilter);
    if (!metadataFiltered) {
      const hits = found.map((h, i) => ({ id: h.id, score: h.score, keyword: { rank: i + 1, score: h.score } }));
      return { hits, examined: found.length };
    }
    const records = new Map((await store.get(found.map((h) => h.id))).map((r) => [r.id, r]));
    const hits: RankedHit[] = [];
    for (const h of found) {
      const r = records.get(h.id);
      if (!r || !accept(r)) continue;
      hits.push({ id: r.id, record: r, score: h.score, keyword: { rank: hits.length + 1, score: h.score } });
      if (hits.length === k) break;
    }
    if (hits.length >= k || found.length < limit) return { hits, examined: found.length };
    limit *= 4;
  }
}

/**
 * Hybrid: the two rankings merged by reciprocal rank fusion (1 / (60 + rank) from each channel a
 * memory appears in), then the memories holding every identifier of the query moved to the top
 * in fused order. Each hit keeps its rank and score in both channels.
 */
export function fuseHybrid(
  semantic: readonly RankedHit[],
  keyword: readonly RankedHit[],
  promoted: ReadonlySet<string>,
  k: number,
): RankedHit[] {
  const fused = new Map<string, RankedHit>();
  const add = (list: readonly RankedHit[], channel: 'semantic' | 'keyword') => {
    list.forEach((hit, i) => {
      const rank: ChannelRank = { rank: i + 1, score: hit[channel]?.score ?? hit.score };
      const seen = fused.get(hit.id);
      const rrf = 1 / (RRF_K + i + 1);
      if (seen) {
        seen.score += rrf;
        seen[channel] = rank;
        if (hit.record) seen.record ??= hit.record;
      } else {
        fused.set(hit.id, { id: hit.id, ...(hit.record ? { record: hit.record } : {}), score: rrf, [channel]: rank });
      }
    });
  };
  add(semantic, 'semantic');
  add(keyword, 'keyword');
  const all = [...fused.values()].sort((a, b) => b.score - a.score);
  for (const h of all) if (promoted.has(h.id)) h.promoted = true;
  return [...all.filter((h) => h.promoted), ...all.filter((h) => !h.promoted)].slice(0, k);
}

/**
 * Drops results far below the best rather than padding a reply to k: a result stays when it is
 * promoted, or its cosine is at least `semanticShare` of the best cosine in the semantic channel
 * (0.6 for a semantic provider, 0.5 for the lexical hash one), or its BM25 is at least 0.3 of the
 * best in the keyword channel (0.4 in keyword mode). The first result always stays. Measured on the
 * retrieval bench's sets: it costs at most 0.005 recall@10 in any row there, 0.002 in hybrid (README).
 */
export function cutFarBelow<H extends RankedHit>(hits: readonly H[], mode: SearchMode, semanticShare: number): H[] {
  const best = (channel: 'semantic' | 'keyword') =>
    Math.max(...hits.map((h) => h[channel]?.score ?? -Infinity), -Infinity);
  const bestSemantic = best('semantic');
  const bestKeyword = best('keyword');
  const keywordShare = mode === 'keyword' ? 0.4 : 0.3;
  return hits.filter(
    (h, i) =>
      i === 0 ||
      h.promoted === true ||
      (h.semantic !== undefined && (bestSemantic <= 0 || h.semantic.score >= semanticShare * bestSemantic)) ||
      (h.keyword !== undefined && (bestKeyword <= 0 || h.keyword.score >= keywordShare * bestKeyword)),
  );
}

/** Merges rankings whose scores are not comparable by reciprocal rank fusion. */
export function fuseByRank(lists: readonly RankedHit[][], k: number): RankedHit[] {
  const fused = new Map<string, { hit: RankedHit; rrf: number }>();
  for (const list of lists) {
    list.forEach((hit, rank) => {
      const seen = fused.get(hit.id);
      const rrf = 1 / (RRF_K + rank + 1);
      if (seen) seen.rrf += rrf;
      else fused.set(hit.id, { hit, rrf });
    });
  }
  return [...fused.values()]
    .sort((a, b) => b.rrf - a.rrf)
    .slice(0, k)
    .map((f) => f.hit);
}

/**
 * The results with their records: those a channel loaded to filter on, the rest in one read. A
 * memory deleted since its index saw it is dropped (the keyword index never has one: it is
 * written in the same transaction; the vector index catches up with deletes).
 */
export async function withRecords(store: MemoryStore, hits: readonly RankedHit[]): Promise<SearchHit[]> {
  const loaded = new Map((await store.get(hits.filter((h) => !h.record).map((h) => h.id))).map((r) => [r.id, r]));
  const out: SearchHit[] = [];
  for (const h of hits) {
    const record = h.record ?? loaded.get(h.id);
    if (record) out.push({ ...h, record });
  }
  return out;
}

/** The filters the store applies inside its own queries. */
export function storeFilterOf(params: SearchParams): RecordFilter {
  return { namespace: params.namespace, tags: params.tags, ...params.times };
}

/** The filters of a search as one predicate (namespace, all tags, metadata equality, times). */
export function filterOf(params: SearchParams): { filtering: boolean; test: (r: MemoryRecord) => boolean } {
  const wantTags = params.tags ?? [];
  const entries = Object.entries(params.filter ?? {});
  const times = params.times ?? {};
  const timed = Object.values(times).some((v) => v !== undefined);
  return {
    filtering: params.namespace !== undefined || wantTags.length > 0 || entries.length > 0 || timed,
    test: (r) =>
      (params.namespace === undefined || r.namespace === params.namespace) &&
      wantTags.every((t) => r.tags.includes(t)) &&
      entries.every(([key, value]) => Object.hasOwn(r.metadata, key) && jsonEqual(r.metadata[key]!, value)) &&
      withinTimes(r, times),
  };
}

/**
 * The best `k` records of one index that pass the filters, widening by 4 until k pass or the
 * index has nothing more. `checkText`: drop hits whose vector was made from another text than
 * the record's current one (the previous model's frozen index).
 */
async function candidates(
  store: MemoryStore,
  index: SearchIndex,
  vector: Float32Array,
  first: number,
  k: number,
  accept: ((r: MemoryRecord) => boolean) | undefined,
  minScore: number | undefined,
  checkText: boolean,
  signal: AbortSignal | undefined,
): Promise<{ hits: RankedHit[]; examined: number }> {
  // (The index clamps k to its size; fetch never drops to 0, or a search racing the index's
  // first catch-up could widen 0 x 4 forever.)
  let fetch = first;
  let hits: Hit[];
  let out: RankedHit[];
  for (;;) {
    [hits] = (await index.search([vector], fetch, signal)) as [Hit[]];
    // (Records only to filter on, or to check the text; else the results are loaded at the end.)
    const records =
      accept || checkText ? new Map((await store.get(hits.map((h) => h.id))).map((r) => [r.id, r])) : undefined;
    out = [];
    for (const h of hits) {
      const r = records?.get(h.id);
      if (records && (!r || (accept && !accept(r)))) continue;
      if (checkText && !r!.contentHash.startsWith(h.hash ?? '\u0000')) continue;
      if (minScore !== undefined && h.score < minScore) continue;
      out.push({
        id: h.id,
        ...(r ? { record: r } : {}),
        score: h.score,
        semantic: { rank: out.length + 1, score: h.score },
      });
      if (out.length === k) break;
    }
    const lastScore = hits[hits.length - 1]?.score ?? -Infinity;
    const belowFloor = minScore !== undefined && lastScore < minScore;
    if (out.length >= k || hits.length < fetch || fetch >= index.liveCount || belowFloor) break;
    fetch *= 4;
  }
  return { hits: out, examined: hits.length };
}

export function asEmbeddingFailure(err: unknown, what: string): MemoryError {
  if (err instanceof MemoryError) {
    return new MemoryError(err.code, `${what}: ${err.message}`, {
      cause: err,
      ...(err.hint !== undefined ? { hint: err.hint } : {}),
    });
  }
  return new MemoryError('EMBEDDING_UNAVAILABLE', `${what}: ${errorMessage(err)}`, { cause: err });
}

export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]!));
  const ao = a as Record<string, JsonValue>;
  const bo = b as Record<string, JsonValue>;
  const ak = Object.keys(ao);
  return (
    ak.length === Object.keys(bo).length && ak.every((key) => Object.hasOwn(bo, key) && jsonEqual(ao[key]!, bo[key]!))
  );
}
