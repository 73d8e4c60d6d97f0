// A point-in-time report of the store, the index, the provider and the backfill job,
// served as the `memory://status` resource (index_health adds checks and a verdict).
import type { BackfillJob } from '../backfill/backfill-job.js';
import { indexReport } from '../health/index-report.js';
import type { MemoryService } from '../memory/memory-service.js';
import type { StoreStats } from '../store/types.js';

export interface StatusSources {
  service: MemoryService;
  backfill?: BackfillJob | undefined;
  extras?: (() => Record<string, unknown>) | undefined;
}

export async function statusReport({ service, backfill, extras }: StatusSources): Promise<Record<string, unknown>> {
  const index = service.openIndex;
  return {
    generated_at: new Date().toISOString(),
    provider: service.providerInfo(),
    store: { kind: service.store.kind, ...storeReport(await service.store.stats()) },
    index: index ? indexReport(index.stats()) : { state: 'not open yet' },
    backfill: backfill ? await backfill.status() : null,
    ...(extras ? extras() : {}),
  };
}

function storeReport(s: StoreStats) {
  return { total: s.total, pending: s.pending, done: s.done, failed: s.failed, head_seq: s.headSeq };
}
