// index_repair and `vector-memory-mcp repair`: verify, sync or rebuild the search index from
// the store (the store itself is never changed).
import { setImmediate as turn } from 'node:timers/promises';
import { MemoryError } from '../shared/errors.js';
import type { VerifyReport } from '../index/index-manager.js';
import type { MemoryService } from '../memory/memory-service.js';

export type RepairMode = 'verify' | 'sync' | 'rebuild';

/** Rebuild speed assumed before one was measured on this machine (vectors per ms). */
const DEFAULT_REBUILD_RATE = 50;
/** Memories per keyword-index transaction when rebuilding it. */
const KEYWORD_STEP = 5000;

export type Counts = {
  store_count: number;
  index_count: number;
  missing: number;
  extra: number;
};

export type RepairResult = {
  /** What the counts alone do not explain (ids held twice by the store, a map that disagrees with FAISS). */
  unexplained: string | null;
  mode: RepairMode;
  dry_run: boolean;
  before: Counts;
  plan: { add: number; drop: number; rebuild_vectors: number; estimated_ms: number };
  after: Counts | null;
  /** The keyword index before, and whether the repair rebuilt it (sync: when it disagreed; rebuild: always). */
  keyword: { missing: number; extra: number; rebuilt: boolean } | null;
  ms: number;
};

const counts = (v: VerifyReport): Counts => ({
  store_count: v.storeCount,
  index_count: v.indexCount,
  missing: v.missingCount,
  extra: v.extraCount,
});

export async function runRepair(
  service: MemoryService,
  mode: RepairMode,
  dryRun: boolean,
  onProgress?: (done: number, total: number) => void | Promise<void>,
): Promise<RepairResult> {
  const started = Date.now();
  const index = await service.ready();
  const before = await index.verify();
  const s = index.stats();
  const rate = s.lastRebuild && s.lastRebuild.ms > 0 ? s.lastRebuild.vectors / s.lastRebuild.ms : DEFAULT_REBUILD_RATE;
  const work = mode === 'rebuild' ? before.storeCount : mode === 'sync' ? before.missingCount + before.extraCount : 0;
  const plan = {
    add: mode === 'verify' ? 0 : before.missingCount,
    drop: mode === 'verify' ? 0 : before.extraCount,
    rebuild_vectors: mode === 'rebuild' ? before.storeCount : 0,
    estimated_ms: Math.round(work / Math.max(rate, 1)),
  };
  let after: Counts | null = null;
  if (!dryRun && mode === 'sync') after = counts((await index.repairSync(false)).after);
  if (!dryRun && mode === 'rebuild') {
    await index.rebuild(onProgress);
    after = counts(await index.verify());
  }
  if (after && (after.missing > 0 || after.extra > 0)) {
    throw new MemoryError('INDEX_UNAVAILABLE', `repair left ${after.missing} missing and ${after.extra} extra`, {
      hint: 'run index_repair with mode "rebuild"',
    });
  }
  const keyword = await repairKeyword(service, mode, dryRun);
  return {
    mode,
    dry_run: dryRun,
    before: counts(before),
    plan,
    after,
    keyword,
    ms: Date.now() - started,
    unexplained: unexplained(before),
  };
}

/** The keyword index is rebuilt from the store (emptied, then refilled in steps) when sync finds it wrong, or on rebuild. */
async function repairKeyword(
  service: MemoryService,
  mode: RepairMode,
  dryRun: boolean,
): Promise<RepairResult['keyword']> {
  const keyword = service.store.keyword;
  if (!keyword) return null;
  const { missing, extra } = await keyword.verify(0);
  const rebuild = !dryRun && (mode === 'rebuild' || (mode === 'sync' && missing + extra > 0));
  if (rebuild) {
    await keyword.reset();
    while (await keyword.fillStep(KEYWORD_STEP)) await turn();
    const left = await keyword.verify(0);
    if (left.missing > 0 || left.extra > 0) {
      throw new MemoryError(
        'STORE_FAILED',
        `the keyword index still lacks ${left.missing} and holds ${left.extra} extra after a rebuild`,
        { hint: 'check the server log; the database may be damaged' },
      );
    }
  }
  return { missing, extra, rebuilt: rebuild };
}

/** Why store and index counts differ beyond missing and extra ids, or null when they do not. */
export function unexplained(v: VerifyReport): string | null {
  const parts: string[] = [];
  if (v.duplicateCount > 0) parts.push(`${v.duplicateCount} store rows repeat an id another row holds`);
  if (v.sizeMismatch !== null) parts.push(v.sizeMismatch);
  const counted = v.storeCount - v.duplicateCount - v.missingCount + v.extraCount;
  if (!v.inconclusive && counted !== v.indexCount && v.sizeMismatch === null) {
    parts.push(`store ${v.storeCount} and index ${v.indexCount} differ by more than the missing and extra ids`);
  }
  return parts.length > 0 ? parts.join('; ') : null;
}

export function describeRepair(r: RepairResult): string {
  return (
    (r.unexplained !== null ? `COUNTS DISAGREE (${r.unexplained}); ` : '') +
    `${r.mode}${r.dry_run ? ' (dry run)' : ''}: store ${r.before.store_count}, index ${r.before.index_count}, ` +
    `${r.before.missing} missing, ${r.before.extra} extra` +
    (r.after ? `; after: ${r.after.missing} missing, ${r.after.extra} extra` : '') +
    (r.mode !== 'verify' ? `; plan: +${r.plan.add} -${r.plan.drop}, about ${r.plan.estimated_ms} ms` : '') +
    (r.keyword
      ? `; keyword index: ${r.keyword.missing} missing, ${r.keyword.extra} extra${r.keyword.rebuilt ? ', rebuilt' : ''}`
      : '')
  );
}
