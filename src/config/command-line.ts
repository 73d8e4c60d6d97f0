// The command line: sub-commands and their own options, then every setting from flags <-
// environment <- defaults, validated by the one config schema. Pure: no process state is read.
import { parseArgs } from 'node:util';
import { defaultCacheDir, defaultDataDir } from './data-dir.js';
import type { RepairMode } from '../health/repair.js';
import { ConfigSchema, SETTING_LIST, defaultOf, type Config } from './settings.js';
import type { ImportSource } from '../memory/transfer-format.js';

export interface BackfillCommand {
  once: boolean;
  namespace?: string;
  graph?: string;
  label?: string;
  limit?: number;
}

export interface ExportCommand {
  out?: string;
  namespace?: string;
  withVectors: boolean;
}

export interface ImportCommand {
  file: string;
  from: ImportSource;
  namespace?: string;
}

export type ParsedCommandLine =
  | { kind: 'run'; command: 'serve'; config: Config }
  | { kind: 'run'; command: 'backfill'; config: Config; backfill: BackfillCommand }
  | { kind: 'run'; command: 'health'; config: Config; json: boolean }
  | { kind: 'run'; command: 'repair'; config: Config; repair: { mode: RepairMode; dryRun: boolean } }
  | { kind: 'run'; command: 'export'; config: Config; export: ExportCommand }
  | { kind: 'run'; command: 'import'; config: Config; import: ImportCommand }
  | { kind: 'help'; text: string }
  | { kind: 'version' }
  | { kind: 'error'; message: string };

/** Options that belong to one sub-command, with their type. */
const COMMAND_OPTIONS = {
  backfill: { once: 'boolean', namespace: 'string', graph: 'string', label: 'string', limit: 'string' },
  repair: { mode: 'string', 'dry-run': 'boolean' },
  export: { out: 'string', namespace: 'string', 'with-vectors': 'boolean' },
  import: { from: 'string', namespace: 'string' },
  health: { json: 'boolean' },
} as const;
const COMMANDS = ['serve', 'backfill', 'health', 'repair', 'export', 'import'] as const;
const REPAIR_MODES: readonly RepairMode[] = ['verify', 'sync', 'rebuild'];
const IMPORT_SOURCES: readonly ImportSource[] = ['vector-memory', 'server-memory'];

export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedCommandLine {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
  for (const own of Object.values(COMMAND_OPTIONS)) {
    for (const [name, type] of Object.entries(own)) options[name] = { type };
  }
  for (const s of SETTING_LIST) options[s.flag] = { type: s.boolean ? 'boolean' : 'string' };

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (err) {
    return { kind: 'error', message: `${(err as Error).message}. Run with --help to list the settings.` };
  }
  if (parsed.values['help']) return { kind: 'help', text: helpText() };
  if (parsed.values['version']) return { kind: 'version' };
  const command = (parsed.positionals[0] ?? 'serve') as (typeof COMMANDS)[number];
  const positionals = command === 'import' ? 2 : 1;
  if (!COMMANDS.includes(command) || parsed.positionals.length > positionals) {
    return { kind: 'error', message: `unknown command "${parsed.positionals.join(' ')}". Run with --help.` };
  }
  const v = parsed.values;
  const owners = new Map<string, string[]>();
  for (const [owner, own] of Object.entries(COMMAND_OPTIONS)) {
    for (const name of Object.keys(own)) owners.set(name, [...(owners.get(name) ?? []), owner]);
  }
  for (const [name, of] of owners) {
    if (v[name] !== undefined && !of.includes(command)) {
      return { kind: 'error', message: `--${name} belongs to the ${of.join(' and ')} command. Run with --help.` };
    }
  }
  const from = (v['from'] ?? 'vector-memory') as ImportSource;
  if (command === 'import' && !IMPORT_SOURCES.includes(from)) {
    return { kind: 'error', message: `--from must be ${IMPORT_SOURCES.join(' or ')}` };
  }
  const file = parsed.positionals[1];
  if (command === 'import' && file === undefined) {
    return { kind: 'error', message: 'import needs a FILE: vector-memory-mcp import FILE [--from server-memory]' };
  }
  const mode = (v['mode'] ?? 'verify') as RepairMode;
  if (command === 'repair' && !REPAIR_MODES.includes(mode)) {
    return { kind: 'error', message: `--mode must be ${REPAIR_MODES.join(', ')}` };
  }
  let limit: number | undefined;
  if (typeof v['limit'] === 'string') {
    limit = Number(v['limit']);
    if (!Number.isInteger(limit) || limit < 1) return { kind: 'error', message: '--limit must be a whole number >= 1' };
  }

  const raw: Record<string, unknown> = {};
  for (const s of SETTING_LIST) {
    const fromFlag = v[s.flag];
    const fromEnv = env[s.env];
    const fromCommandLine = typeof fromFlag === 'string' || typeof fromFlag === 'boolean' ? fromFlag : undefined;
    const value = fromCommandLine ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined);
    if (value !== undefined) raw[s.key] = value;
  }
  raw['dataDir'] ??= defaultDataDir(env);
  raw['cacheDir'] ??= defaultCacheDir(env);

  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = issue.path[0];
      const setting = SETTING_LIST.find((s) => s.key === key);
      const name = setting ? `${setting.env} (--${setting.flag})` : String(key);
      const shown = setting?.secret ? '' : ` (got ${JSON.stringify(raw[String(key)])})`;
      return `invalid setting ${name}: ${issue.message}${shown}`;
    });
    return { kind: 'error', message: lines.join('\n') };
  }
  const config = result.data;
  if (command === 'backfill') {
    const str = (k: string) => (typeof v[k] === 'string' ? { [k]: v[k] as string } : {});
    return {
      kind: 'run',
      command,
      config,
      backfill: {
        once: v['once'] === true,
        ...str('namespace'),
        ...str('graph'),
        ...str('label'),
        ...(limit !== undefined ? { limit } : {}),
      },
    };
  }
  if (command === 'repair') return { kind: 'run', command, config, repair: { mode, dryRun: v['dry-run'] === true } };
  if (command === 'health') return { kind: 'run', command, config, json: v['json'] === true };
  const namespace = typeof v['namespace'] === 'string' ? { namespace: v['namespace'] } : {};
  if (command === 'export') {
    const out = typeof v['out'] === 'string' ? { out: v['out'] } : {};
    return { kind: 'run', command, config, export: { ...out, ...namespace, withVectors: v['with-vectors'] === true } };
  }
  if (command === 'import') return { kind: 'run', command, config, import: { file: file!, from, ...namespace } };
  return { kind: 'run', command, config };
}

export function helpText(): string {
  const rows = SETTING_LIST.map((s) => {
    const value = defaultOf(s);
    const shown =
      value === undefined || (Array.isArray(value) && value.length === 0) ? '' : ` (default ${String(value)})`;
    return `  --${s.flag.padEnd(27)} ${s.env.padEnd(30)} ${s.help}${shown}`;
  });
  return [
    'vector-memory-mcp: a semantic memory server for MCP clients (stdio or HTTP).',
    '',
    'Usage: vector-memory-mcp [serve] [options]',
    '       vector-memory-mcp backfill [--once] [--namespace N] [--graph G] [--label L] [--limit N] [options]',
    '       vector-memory-mcp health [--json] [options] the index health report (a summary on a terminal); exit 1 unless ok',
    `       vector-memory-mcp repair --mode ${REPAIR_MODES.join('|')} [--dry-run] [options]`,
    '       vector-memory-mcp export [--out FILE] [--namespace NS] [--with-vectors] [options]',
    '       vector-memory-mcp import FILE [--from vector-memory|server-memory] [--namespace NS] [options]',
    '',
    'export writes JSON lines, one memory per line (stdout without --out). import reads them back, keeping ids and',
    'times (a second import of the same file changes nothing), or the file of @modelcontextprotocol/server-memory;',
    'a bad line stops it before anything is written (exit 1, naming the line).',
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
