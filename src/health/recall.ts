// recall@10 of the search index against exact search over the store's vectors (the source of
// truth), on sampled stored vectors used as queries (each query's own memory left out). The
// exact side streams the store page by page in JS, yielding between pages. A returned memory
// counts as found when its exact score reaches the 10th exact score (ties are not misses), so
// a sound Flat index scores 1.0 and a broken id map or a poor IVF index less.
import { setImmediate as turn } from 'node:timers/promises';
import type { SearchIndex } from '../index/search-index.js';
import type { MemoryStore } from '../store/types.js';

const K = 10;
/** Vectors per page of the exact side (a page of 1000 x 384 against 32 queries is a few ms of JS). */
const PAGE = 1000;

export async function measureRecallAt10(
  index: SearchIndex,
  store: MemoryStore,
  sampleSize: number,
): Promise<{ recall: number; sample: number }> {
  const picked = await index.sampleIds(sampleSize);
  const queries = await store.vectorsOf(picked, index.fingerprint);
  if (queries.length === 0 || index.liveCount < 2) return { recall: 1, sample: 0 };
  const got = (
    await index.search(
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
  const ids = await store.embeddedIds(index.fingerprint);
  for (let i = 0; i < ids.length; i += PAGE) {
    for (const v of await store.vectorsOf(ids.slice(i, i + PAGE), index.fingerprint)) {
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

/** Floats held up to which index_health measures recall in its own call (about a second here). */
export const RECALL_INLINE_FLOATS = 50_000 * 384;
/** A background measurement is reused this long, while the index keeps its shape and size (within 1%). */
const RECALL_FRESH_MS = 10 * 60_000;

export interface RecallMeasurement {
  recall: number;
  sample: number;
  at: string;
  live: number;
  shape: string;
}

const lastMeasured = new WeakMap<SearchIndex, RecallMeasurement>();
const measuring = new WeakMap<SearchIndex, Promise<void>>();

/**
 * Recall for a health report: measured in the call while the index is small; above that (the
 * exact side read every stored vector: 22 s at 1M), the last background measurement, and a new
 * one started when that is missing, older than 10 minutes, or of another index shape or size.
 */
export async function recallForHealth(
  index: SearchIndex,
  store: MemoryStore,
  sampleSize: number,
  inlineFloats: number,
): Promise<{ measured: RecallMeasurement | undefined; measuring: boolean }> {
  const stats = index.stats();
  const shape = `${stats.type}:${stats.nlist ?? ''}:${stats.nprobe ?? ''}:${stats.lastRebuild?.at ?? ''}`;
  const measure = async (): Promise<RecallMeasurement> => {
    const r = await measureRecallAt10(index, store, sampleSize);
    return { ...r, at: new Date().toISOString(), live: stats.live, shape };
  };
  if (stats.live * stats.dimension <= inlineFloats) return { measured: await measure(), measuring: false };
  const last = lastMeasured.get(index);
  const fresh =
    last !== undefined &&
    Date.now() - Date.parse(last.at) < RECALL_FRESH_MS &&
    last.shape === shape &&
    Math.abs(last.live - stats.live) <= 0.01 * stats.live;
  if (!fresh && !measuring.has(index)) {
    measuring.set(
      index,
      measure()
        .then((m) => void lastMeasured.set(index, m))
        .catch(() => undefined) // (an index closed or recovering meanwhile: measured again on the next call)
        .finally(() => measuring.delete(index)),
    );
  }
  return { measured: last, measuring: measuring.has(index) };
}
