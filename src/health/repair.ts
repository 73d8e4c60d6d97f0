// index_repair and `vector-memory-mcp repair`: verify, sync or rebuild the search index from
// the store (the store itself is never changed).
import { MemoryError } from '../shared/errors.js';
import type { VerifyReport } from '../index/index-manager.js';
import type { MemoryService } from '../memory/memory-service.js';

export type RepairMode = 'verify' | 'sync' | 'rebuild';

/** Rebuild speed assumed before one was measured on this machine (vectors per ms). */
const DEFAULT_REBUILD_RATE = 50;

export interface Counts {
  store_count: number;
  index_count: number;
  missing: number;
  extra: number;
}

export interface RepairResult {
  mode: RepairMode;
  dry_run: boolean;
  before: Counts;
  plan: { add: number; drop: number; rebuild_vectors: number; estimated_ms: number };
  after: Counts | null;
  ms: number;
}

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
  return { mode, dry_run: dryRun, before: counts(before), plan, after, ms: Date.now() - started };
}

export function describeRepair(r: RepairResult): string {
  return (
    `${r.mode}${r.dry_run ? ' (dry run)' : ''}: store ${r.before.store_count}, index ${r.before.index_count}, ` +
    `${r.before.missing} missing, ${r.before.extra} extra` +
    (r.after ? `; after: ${r.after.missing} missing, ${r.after.extra} extra` : '') +
    (r.mode !== 'verify' ? `; plan: +${r.plan.add} -${r.plan.drop}, about ${r.plan.estimated_ms} ms` : '')
  );
}
