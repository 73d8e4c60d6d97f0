// Proving that a generation matches the store: the ids the store holds vectors for (of this
// model) against the ids the index maps, plus the checks that the map and the FAISS index agree.
import { setImmediate as turn } from 'node:timers/promises';
import type { MemoryStore } from '../store/types.js';
import type { IndexState } from './index-state.js';

/** Ids compared between turns of the event loop. */
const VERIFY_STEP = 20_000;
/** Ids listed in a report (the counts are always complete). */
const SAMPLE = 20;
const PAGE = 1000;

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
  /**
   * Store rows beyond the first for an id (ids that differ only in ill-formed UTF-16 read back
   * equal): they make the counts differ with nothing missing or extra, so they are counted here.
   */
  duplicateCount: number;
  /** The map and the FAISS index disagree about how many vectors there are, or a change failed to apply. */
  sizeMismatch: string | null;
}

export interface SyncRepair {
  before: VerifyReport;
  added: number;
  dropped: number;
  after: VerifyReport;
}

/**
 * Compares `s` with the store. `catchUp` applies the store's changes to `s` first; the store's
 * ids are listed between two reads of its sequence, retried while other writers move it. Runs
 * under the manager's lock: the map does not change meanwhile.
 */
export async function compareWithStore(
  s: IndexState,
  store: MemoryStore,
  fingerprint: string,
  catchUp: () => Promise<void>,
): Promise<VerifyReport> {
  let inconclusive = true;
  let storeIds: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    await catchUp();
    const before = await store.headSeq();
    storeIds = await store.embeddedIds(fingerprint);
    const after = await store.headSeq();
    if (before === after && before === s.appliedSeq) {
      inconclusive = false;
      break;
    }
  }
  const inStore = new Set<string>();
  const missing: string[] = [];
  let duplicates = 0;
  for (let i = 0; i < storeIds.length; i++) {
    const id = storeIds[i]!;
    if (inStore.has(id)) {
      duplicates++;
      continue;
    }
    inStore.add(id);
    if (!s.labels.has(id)) missing.push(id);
    if (i % VERIFY_STEP === VERIFY_STEP - 1) await turn();
  }
  const extraSet = new Set<string>();
  let n = 0;
  for (const [id, label] of s.labels) {
    // A label whose id no longer points back at it is a broken map entry: count it as extra.
    if (!inStore.has(id) || s.ids[label] !== id) extraSet.add(id);
    if (++n % VERIFY_STEP === 0) await turn();
  }
  const extra = [...extraSet];
  const held = await s.index.count();
  const sizeMismatch =
    s.broken ??
    (held !== s.live + s.tombstones || s.ids.length !== s.index.size
      ? `the FAISS index holds ${held} vectors, the map ${s.live} live + ${s.tombstones} deleted`
      : null);
  return {
    ok: missing.length === 0 && extra.length === 0 && sizeMismatch === null,
    inconclusive,
    storeCount: storeIds.length,
    indexCount: s.live,
    missingFromIndex: missing,
    notInStore: extra,
    missingCount: missing.length,
    extraCount: extra.length,
    duplicateCount: duplicates,
    sizeMismatch,
  };
}

/** Adds the vectors of memories missing from `s` and tombstones ids the store no longer has. */
export async function repairFrom(
  s: IndexState,
  store: MemoryStore,
  fingerprint: string,
  report: VerifyReport,
): Promise<{ added: number; dropped: number }> {
  let added = 0;
  for (let i = 0; i < report.missingFromIndex.length; i += PAGE) {
    const page = await store.vectorsOf(report.missingFromIndex.slice(i, i + PAGE), fingerprint);
    await s.add(page.map((v) => ({ id: v.id, vector: v.vector, hash: v.contentHash })));
    added += page.length;
  }
  for (const id of report.notInStore) s.tombstone(id);
  return { added, dropped: report.notInStore.length };
}

/** The report with its id lists cut to a sample. */
export function trimReport(r: VerifyReport): VerifyReport {
  return { ...r, missingFromIndex: r.missingFromIndex.slice(0, SAMPLE), notInStore: r.notInStore.slice(0, SAMPLE) };
}
