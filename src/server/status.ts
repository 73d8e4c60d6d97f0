// A point-in-time report of the store, the index, the provider and the backfill job,
// served as the `memory://status` resource. (The index-health issue adds checks and verdicts.)
import type { BackfillJob } from '../backfill/backfill-job.js';
import type { MemoryService } from '../memory/memory-service.js';

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
    store: { kind: service.store.kind, ...(await service.store.stats()) },
    index: index ? index.stats() : { state: 'not open yet' },
    backfill: backfill ? await backfill.status() : null,
    ...(extras ? extras() : {}),
  };
}
