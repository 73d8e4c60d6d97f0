// Builds the running application from config: the store, the embedding provider, the
// index manager factory, the memory service and the background embedding worker.
import { join } from 'node:path';
import type { Config } from './config.js';
import { createEmbeddingProvider } from './embeddings/create-provider.js';
import type { EmbeddingProvider } from './embeddings/types.js';
import { EmbeddingWorker } from './embedding-worker.js';
import { IndexManager } from './index/index-manager.js';
import { limitsFromConfig } from './limits.js';
import type { Logger } from './logger.js';
import { MemoryService } from './memory-service.js';
import { SqliteStore } from './store/sqlite-store.js';
import type { MemoryStore } from './store/types.js';
import { Notifier } from './notifier.js';

export interface App {
  config: Config;
  store: MemoryStore;
  embedder: EmbeddingProvider;
  service: MemoryService;
  worker: EmbeddingWorker;
  /** Server events, fanned out to every connected session as log notifications. */
  notifier: Notifier;
  /** Opens the store; the index opens later (start()) so that the handshake is not delayed. */
  open(): Promise<void>;
  /** Starts opening the index and the background embedder. */
  start(): void;
  close(): Promise<void>;
}

export interface AppOverrides {
  embedder?: EmbeddingProvider;
  store?: MemoryStore;
}

const WORKER_INTERVAL_MS = 60_000;

export function createApp(config: Config, logger: Logger, overrides: AppOverrides = {}): App {
  const store = overrides.store ?? new SqliteStore(join(config.dataDir, 'memories.db'));
  const embedder = overrides.embedder ?? createEmbeddingProvider(config);
  const notifier = new Notifier();
  const service = new MemoryService({
    store,
    embedder,
    limits: limitsFromConfig(config),
    logger,
    createIndex: (e) =>
      new IndexManager({
        store,
        fingerprint: e.fingerprint,
        dimension: e.dimension,
        dir: join(config.dataDir, 'index'),
        logger,
        persistDelayMs: config.indexPersistDelayMs,
      }),
    onPending: () => worker.kick(1000),
  });
  const worker = new EmbeddingWorker({
    store,
    embedder,
    logger,
    batchSize: Math.min(config.embeddingBatchSize, embedder.maxBatchSize),
    onEmbedded: async () => {
      await service.openIndex?.sync();
    },
    onEvent: (level, data) => notifier.emit({ level, logger: 'embedding', data }),
  });
  let interval: NodeJS.Timeout | undefined;
  let started = false;

  return {
    config,
    store,
    embedder,
    service,
    worker,
    notifier,
    async open() {
      await store.open();
    },
    start() {
      if (started) return;
      started = true;
      service
        .ready()
        .then(() => worker.kick())
        .catch(() => worker.kick(5000));
      interval = setInterval(() => worker.kick(), WORKER_INTERVAL_MS);
      interval.unref();
    },
    async close() {
      if (interval) clearInterval(interval);
      await worker.stop();
      await service.close();
      await store.close();
    },
  };
}
