// Builds the running application from config: the store, the embedding provider, the
// index manager factory, the memory service and the backfill job.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config/settings.js';
import { createEmbeddingProvider, createProviderFor, WORD_VECTORS_INSTALL } from './embeddings/create-provider.js';
import { UnavailableProvider } from './embeddings/unavailable-provider.js';
import type { EmbeddingProvider } from './embeddings/types.js';
import { BackfillJob } from './backfill/backfill-job.js';
import { KeywordFill } from './backfill/keyword-fill.js';
import { CallTracker } from './shared/call-tracker.js';
import { CircuitBreakerProvider } from './embeddings/circuit-breaker.js';
import type { ServerDeps } from './server/create-server.js';
import { LoopMonitor, type HealthDeps } from './health/health-report.js';
import { IndexManager, type IndexManagerOptions } from './index/index-manager.js';
import { StoreSearchIndex } from './index/store-search-index.js';
import { limitsFromConfig, maxBodyBytes, maxMessageBytes } from './config/limits.js';
import type { Logger } from './shared/logger.js';
import { MemoryError, errorMessage } from './shared/errors.js';
import { withDeadline } from './shared/abort.js';
import { readSnapshotHeader } from './index/snapshot/snapshot.js';
import { MemoryService, type PreviousModel } from './memory/memory-service.js';
import { FalkorDBStore } from './store/falkordb/falkordb-store.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import type { MemoryStore, StoreVectorSearch } from './store/types.js';
import { Notifier } from './server/notifier.js';

export interface App {
  config: Config;
  /** Largest protocol message (stdio line) and HTTP body, in bytes: set, or derived from the limits. */
  messageBytes: { line: number; body: number };
  store: MemoryStore;
  embedder: EmbeddingProvider;
  service: MemoryService;
  backfill: BackfillJob;
  /** Server events, fanned out to every connected session as log notifications. */
  notifier: Notifier;
  /** Tool calls in flight (drained on close). */
  calls: CallTracker;
  /** Adds memories stored before the keyword index existed to it (started by start()). */
  keywordFill: KeywordFill | undefined;
  /** The embedding provider's circuit breaker (`embedder` is wrapped in it). */
  breaker: CircuitBreakerProvider;
  /** Everything createServer needs, for one more session. */
  serverDeps(logger: Logger): ServerDeps;
  /** What index_health and `vector-memory-mcp health` report from. */
  health(): HealthDeps;
  /** Opens the store; the index opens later (start()) so that the handshake is not delayed. */
  open(): Promise<void>;
  /** Starts opening the index and the background embedder. */
  start(): void;
  /**
   * Lets tool calls in flight finish (bounded, then cancels them), closes the transport, stops
   * the backfill, writes the index snapshot and closes the store.
   */
  close(closeTransport?: () => Promise<void>): Promise<void>;
}

/** How long cancelled calls get to unwind before the rest of shutdown goes on. */
const CANCELLED_CALLS_MS = 1000;

export interface AppOverrides {
  embedder?: EmbeddingProvider;
  store?: MemoryStore;
  /** Options of the search index manager beyond the configuration's (tests: the recovery policy). */
  index?: Pick<IndexManagerOptions, 'recovery'>;
}

/** How long the start waits for the store to say which models its vectors were made with. */
const MODELS_WAIT_MS = 2000;

export function createApp(config: Config, logger: Logger, overrides: AppOverrides = {}): App {
  if (config.searchIndex === 'falkordb' && config.falkordbUrl === undefined) {
    throw new MemoryError(
      'CONFIG_INVALID',
      'MEMORY_SEARCH_INDEX=falkordb searches FalkorDB: set FALKORDB_URL too (or use MEMORY_SEARCH_INDEX=faiss)',
    );
  }
  const store = overrides.store ?? createStore(config, logger);
  const storeSearch = config.searchIndex === 'falkordb' ? store.vectorSearch : undefined;
  if (config.searchIndex === 'falkordb' && !storeSearch) {
    throw new MemoryError(
      'CONFIG_INVALID',
      `MEMORY_SEARCH_INDEX=falkordb: the ${store.kind} store has no vector index`,
    );
  }
  const breaker = new CircuitBreakerProvider(overrides.embedder ?? createEmbeddingProvider(config, logger), {
    threshold: config.breakerThreshold,
    cooldownMs: config.breakerCooldownMs,
  });
  const embedder: EmbeddingProvider = breaker;
  const limits = limitsFromConfig(config);
  const calls = new CallTracker();
  const loop = new LoopMonitor();
  const notifier = new Notifier();
  const service = new MemoryService({
    store,
    embedder,
    limits,
    logger,
    createIndex: (e) =>
      storeSearch
        ? new StoreSearchIndex({
            store,
            search: storeSearch,
            fingerprint: e.fingerprint,
            dimension: e.dimension,
            logger,
            where: store.location,
          })
        : new IndexManager({
            store,
            fingerprint: e.fingerprint,
            dimension: e.dimension,
            dir: indexDir(config),
            logger,
            persistDelayMs: config.indexPersistDelayMs,
            lockTimeoutMs: config.indexTimeoutMs,
            ivf: { minVectors: config.ivfMinVectors, recallFloor: config.recallFloor },
            ...overrides.index,
          }),
    onPending: () => backfill.kick(1000),
    duplicateThreshold: config.duplicateThreshold,
    // (With FalkorDB's index there is no previous model's index: the store keeps one vector per memory.)
    openPrevious: async (current) =>
      storeSearch ? undefined : openPreviousModel(config, store, current.fingerprint, logger),
  });
  const keywordFill = store.keyword ? new KeywordFill(store.keyword, logger) : undefined;
  const backfill = new BackfillJob({
    store,
    embedder,
    logger,
    batchSize: Math.min(config.backfillBatchSize, config.embeddingBatchSize),
    concurrency: config.backfillConcurrency,
    maxAttempts: config.backfillMaxAttempts,
    intervalMs: config.backfillIntervalMs,
    onEmbedded: async () => {
      await service.openIndex?.sync();
      await service.checkMigration();
    },
    onEvent: (level, data) => notifier.emit({ level, logger: 'backfill', data }),
    circuit: () => breaker.status(),
  });
  const health = (): HealthDeps => ({
    service,
    backfill,
    circuit: () => breaker.status(),
    limits,
    recallFloor: config.recallFloor,
    loop,
  });
  let started = false;

  return {
    config,
    messageBytes: { line: maxMessageBytes(config), body: maxBodyBytes(config) },
    store,
    embedder,
    service,
    backfill,
    notifier,
    calls,
    keywordFill,
    breaker,
    serverDeps(logger2: Logger) {
      return {
        service,
        limits,
        logger: logger2,
        notifier,
        backfill,
        calls,
        toolTimeoutMs: config.toolTimeoutMs,
        statusExtras: () => ({ embedding_circuit: breaker.status(), calls_in_flight: calls.size }),
        health: health(),
      };
    },
    health,
    async open() {
      await store.open();
      if (!overrides.embedder) await keepRecordedModel(config, breaker, logger, storeSearch);
    },
    start() {
      if (started) return;
      started = true;
      backfill.start();
      keywordFill?.start();
      service
        .ready()
        .then(() => backfill.kick(0, 'startup'))
        .catch(() => backfill.kick(5000, 'startup'));
    },
    async close(closeTransport) {
      // The one drain: calls in flight get MEMORY_SHUTDOWN_TIMEOUT_MS to finish and answer, then
      // are cancelled (a cancelled write commits nothing it had not committed).
      if (!(await calls.drain(config.shutdownTimeoutMs))) {
        logger.warn('cancelling tool calls still running at shutdown', { inFlight: calls.size });
        calls.abortAll(
          new MemoryError('TIMEOUT', 'the server is shutting down', { hint: 'try again once it is back' }),
        );
        await calls.drain(CANCELLED_CALLS_MS);
      }
      await closeTransport?.();
      await backfill.stop();
      await keywordFill?.stop();
      loop.stop();
      try {
        await service.close();
      } catch (err) {
        // The index is a cache of the store: a snapshot that cannot be written at shutdown
        // (an unwritable index folder) costs a catch-up or rebuild at the next start, nothing more.
        logger.warn('the index snapshot could not be written at shutdown; the store is intact', {
          error: errorMessage(err),
        });
      }
      await store.close();
    },
  };
}

function createStore(config: Config, logger: Logger): MemoryStore {
  if (config.falkordbUrl === undefined) {
    return new SqliteStore(join(config.dataDir, 'memories.db'), { busyTimeoutMs: config.dbBusyTimeoutMs });
  }
  return new FalkorDBStore({
    url: config.falkordbUrl,
    password: config.falkordbPassword,
    graph: config.falkordbGraph,
    label: config.falkordbLabel,
    timeoutMs: config.falkordbTimeoutMs,
    backfillGraphs: config.backfillGraphs,
    backfillLabels: config.backfillLabels,
    textProperty: config.textProperty,
    embeddingProperty: config.embeddingProperty,
    logger,
  });
}

/** Index snapshots live beside the store they mirror: one folder per FalkorDB server and graph. */
function indexDir(config: Config): string {
  if (config.falkordbUrl === undefined) return join(config.dataDir, 'index');
  const where = config.falkordbUrl.replace(/^rediss?:\/\/([^@/]*@)?/, '').replace(/[^A-Za-z0-9.-]+/g, '_');
  return join(config.dataDir, 'index', `falkordb_${where}_${config.falkordbGraph}`);
}

/**
 * The model being replaced: the largest other snapshot in the index folder, frozen, with a
 * provider that embeds queries in its space. Undefined when there is none, or when its model
 * cannot be reached from the current settings (searches then see the re-embedded part only).
 */
async function openPreviousModel(
  config: Config,
  store: MemoryStore,
  currentFingerprint: string,
  logger: Logger,
): Promise<PreviousModel | undefined> {
  const dir = indexDir(config);
  if (!existsSync(dir)) return undefined;
  const candidates: { path: string; fingerprint: string; live: number }[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.snapshot')) continue;
    try {
      const h = await readSnapshotHeader(join(dir, f));
      if (h.fingerprint !== currentFingerprint) candidates.push({ path: f, fingerprint: h.fingerprint, live: h.live });
    } catch (err) {
      logger.debug('skipping an unreadable snapshot', { file: f, error: errorMessage(err) });
    }
  }
  const best = candidates.sort((a, b) => b.live - a.live)[0];
  if (!best) return undefined;
  const embedder = createProviderFor(config, best.fingerprint, logger);
  if (!embedder) {
    logger.warn('the previous model cannot be used from the current settings', { fingerprint: best.fingerprint });
    return undefined;
  }
  await embedder.init();
  if (embedder.fingerprint !== best.fingerprint) return undefined;
  const index = new IndexManager({
    store, // read once, to check the snapshot is not ahead of it
    fingerprint: best.fingerprint,
    dimension: embedder.dimension,
    dir,
    logger,
    frozen: true,
  });
  await index.open();
  return { index, embedder };
}

/** The models the data directory's index snapshots were made with, the most vectors first. */
async function recordedModels(config: Config): Promise<{ fingerprint: string; live: number }[]> {
  const dir = indexDir(config);
  const recorded: { fingerprint: string; live: number }[] = [];
  if (!existsSync(dir)) return recorded;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.snapshot')) continue;
    try {
      const h = await readSnapshotHeader(join(dir, f));
      recorded.push({ fingerprint: h.fingerprint, live: h.live });
    } catch {
      // unreadable: the server rebuilds it; it records nothing
    }
  }
  return recorded.sort((a, b) => b.live - a.live);
}

/** Without snapshots (MEMORY_SEARCH_INDEX=falkordb), the models are those of the vectors the store holds. */
async function modelsInStore(
  search: StoreVectorSearch,
  logger: Logger,
): Promise<{ fingerprint: string; live: number }[]> {
  try {
    return await withDeadline(search.models(), {
      ms: MODELS_WAIT_MS,
      timeoutError: () => new Error(`FalkorDB did not answer within ${MODELS_WAIT_MS} ms`),
    });
  } catch (err) {
    logger.warn('could not read which models the stored vectors were made with; using the settings as they are', {
      error: errorMessage(err),
    });
    return [];
  }
}

/** Whether the settings chose a provider (else `auto` picked one from what is installed). */
function providerChosen(config: Config): boolean {
  return config.embeddingProvider !== 'auto' || config.openaiApiKey !== undefined || config.openaiBaseUrl !== undefined;
}

/**
 * With `auto` (no provider chosen by a setting), the server keeps the model the data directory
 * already holds instead of re-embedding everything with whatever is installed now. When that
 * model cannot be used here, it stands in as UnavailableProvider: said loudly at start, in
 * health and in every search reply; writes stay pending, searches answer by keyword, and
 * nothing is re-embedded until the model is back or a setting names another one. A newer
 * version of the same provider (another package version or processing) is the provider's own
 * upgrade and re-embeds, as a model change.
 */
async function keepRecordedModel(
  config: Config,
  breaker: CircuitBreakerProvider,
  logger: Logger,
  storeSearch: StoreVectorSearch | undefined,
): Promise<void> {
  if (providerChosen(config)) return;
  const recorded = (storeSearch ? await modelsInStore(storeSearch, logger) : await recordedModels(config))[0];
  const picked = breaker.inner;
  if (!recorded || recorded.fingerprint === picked.fingerprint) return;
  const same = createProviderFor(config, recorded.fingerprint, logger);
  if (same && same.fingerprint === recorded.fingerprint) {
    breaker.use(same);
    logger.info('using the model recorded in the data directory; set EMBEDDING_PROVIDER to re-embed with another', {
      model: modelOf(recorded.fingerprint),
      installed: picked.name,
    });
    return;
  }
  const [name] = recorded.fingerprint.split(':');
  if (name === picked.name) return;
  const fix =
    name === 'word-vectors'
      ? `run \`${WORD_VECTORS_INSTALL}\` in the vector-memory-mcp folder (or set WORD_VECTORS_DIR)`
      : name === 'openai'
        ? 'set OPENAI_API_KEY or OPENAI_BASE_URL (and EMBEDDING_MODEL) as before'
        : `set EMBEDDING_PROVIDER=${name}`;
  const message =
    `the memories were embedded with ${modelOf(recorded.fingerprint)}, which is not available here: ${fix}, then restart; ` +
    `or set EMBEDDING_PROVIDER=${picked.name} to re-embed them with ${picked.name}. Until then new memories wait ` +
    'and search is by keyword';
  breaker.use(new UnavailableProvider(recorded.fingerprint, message));
  logger.error('the embedding model of this data directory is not available', { message });
}

/** A model's fingerprint without its dimension (`openai:text-embedding-3-small`, `hash:feature-hash-v1`). */
function modelOf(fingerprint: string): string {
  return fingerprint.replace(/:\d+$/, '');
}

/**
 * The embedding provider for `health`, `repair` and `backfill`, which must describe the index the
 * server keeps: the model recorded in the data directory (its snapshots; the one with the most
 * vectors when several) is used when the settings name no provider, and settings naming another
 * model are refused (they would describe, or rebuild, another index). `{}`: use the settings as
 * they are (nothing recorded yet, or they agree).
 */
export async function commandEmbedder(
  config: Config,
  logger: Logger,
): Promise<{ embedder?: EmbeddingProvider; refused?: string }> {
  const recorded = await recordedModels(config);
  const best = recorded[0];
  if (!best) return {};
  const given = providerChosen(config);
  // The settings' model: its whole fingerprint, except for an endpoint's (its dimension is
  // known only once it answered), which is compared without the dimension.
  let wanted: string;
  let agrees: (fingerprint: string) => boolean;
  try {
    const p = createEmbeddingProvider(config, logger);
    wanted = p.name === 'openai' ? `openai:${config.embeddingModel}` : p.fingerprint;
    agrees = (f) => (p.name === 'openai' ? modelOf(f) === wanted : f === wanted);
  } catch (err) {
    wanted = `a provider that cannot be made (${errorMessage(err)})`;
    agrees = () => false;
  }
  if (recorded.some((r) => agrees(r.fingerprint))) return {};
  const settings = 'EMBEDDING_PROVIDER, EMBEDDING_MODEL, OPENAI_API_KEY / OPENAI_BASE_URL';
  if (given) {
    return {
      refused:
        `the data directory ${config.dataDir} holds an index of the model ${best.fingerprint} (${best.live} vectors), ` +
        `but these settings select ${wanted}: give the settings the server runs with (${settings}). ` +
        `To change the model, restart the server with the new settings: it re-embeds in the background`,
    };
  }
  const embedder = createProviderFor(config, best.fingerprint, logger);
  if (!embedder) {
    return {
      refused:
        `the data directory ${config.dataDir} holds an index of the model ${modelOf(best.fingerprint)} (${best.live} vectors), ` +
        `which cannot be reached without settings: give the settings the server runs with (${settings})`,
    };
  }
  logger.info('using the model recorded in the data directory', { model: modelOf(best.fingerprint) });
  return { embedder };
}
