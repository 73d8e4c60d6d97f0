// A point-in-time report of the store, the index, the provider and the background embedder,
// served as the `memory://status` resource. (The index-health issue adds checks and verdicts.)
import type { EmbeddingWorker } from './embedding-worker.js';
import type { MemoryService } from './memory-service.js';

export interface StatusSources {
  service: MemoryService;
  worker?: EmbeddingWorker | undefined;
}

export async function statusReport({ service, worker }: StatusSources): Promise<Record<string, unknown>> {
  const index = service.openIndex;
  return {
    generated_at: new Date().toISOString(),
    provider: service.providerInfo(),
    store: { kind: service.store.kind, ...(await service.store.stats()) },
    index: index ? index.stats() : { state: 'not open yet' },
    embedding_worker: worker ? worker.getStatus() : null,
  };
}
