// What makes a new memory a duplicate of one already stored.
// - Exact: the same text after trimming and collapsing whitespace, in the same namespace (the
//   store's duplicate key). A client that retries a store sends exactly that: it gets the
//   existing id back and nothing is written.
// - Near: a stored memory of the same namespace whose vector is at least the threshold close
//   (cosine) and that passes a guard: both texts name the same codes (ticket codes, versions,
//   hostnames) and share most of their words (Jaccard >= 0.7). The guard is
//   needed because averaged word vectors make "JIRA-4512 is fixed" and "JIRA-4513 is fixed", or
//   "a genus of Loriinae" and "a genus of Siphonophora", all but identical. Thresholds chosen on
//   the retrieval bench's sets (README): 0.90 for a lexical provider, 0.92 for a semantic one.
import type { SearchIndex } from '../index/search-index.js';
import { keywordTerms } from '../store/keyword-query.js';
import type { MemoryStore } from '../store/types.js';

export type OnDuplicate = 'keep' | 'skip' | 'update';

export const DEFAULT_THRESHOLD = { lexical: 0.9, semantic: 0.92 } as const;
const JACCARD = 0.7;
/** Neighbours looked at per new memory. */
const NEIGHBOURS = 5;
const WORD = /[\p{L}\p{N}]+/gu;

export interface Similar {
  id: string;
  score: number;
}

function words(text: string): Set<string> {
  return new Set(text.toLowerCase().match(WORD) ?? []);
}

/**
 * Codes, versions, hostnames: identifiers with a digit or an inner - _ . : / @. (Capitalised
 * words are left to the word overlap: a capital letter is not a different memory.)
 */
function codes(text: string): Set<string> {
  return new Set(keywordTerms(text).identifiers.filter((c) => /\p{N}|[\p{L}\p{N}][-_.:/@][\p{L}\p{N}]/u.test(c)));
}

/** The guard: the same codes, and most words shared. */
export function nearDuplicateText(a: string, b: string): boolean {
  const ia = codes(a);
  const ib = codes(b);
  if (ia.size !== ib.size || [...ia].some((x) => !ib.has(x))) return false;
  const wa = words(a);
  const wb = words(b);
  let shared = 0;
  for (const w of wa) if (wb.has(w)) shared++;
  const union = wa.size + wb.size - shared;
  return union === 0 || shared / union >= JACCARD;
}

/**
 * Stored memories close to each new one (same namespace, above the threshold, through the
 * guard), closest first. The index answers all of them in one batched search.
 */
export async function findSimilar(
  index: SearchIndex,
  store: MemoryStore,
  items: readonly { text: string; namespace: string; vector: Float32Array }[],
  threshold: number,
  signal?: AbortSignal,
): Promise<Similar[][]> {
  if (items.length === 0 || index.liveCount === 0) return items.map(() => []);
  const hits = await index.search(
    items.map((i) => i.vector),
    NEIGHBOURS,
    signal,
  );
  const candidates = [
    ...new Set(
      hits
        .flat()
        .filter((h) => h.score >= threshold)
        .map((h) => h.id),
    ),
  ];
  const records = new Map((await store.get(candidates)).map((r) => [r.id, r]));
  return items.map((item, i) =>
    (hits[i] ?? [])
      .filter((h) => h.score >= threshold)
      .filter((h) => {
        const r = records.get(h.id);
        return r !== undefined && r.namespace === item.namespace && nearDuplicateText(item.text, r.text);
      })
      .map((h) => ({ id: h.id, score: Math.round(h.score * 1000) / 1000 })),
  );
}
