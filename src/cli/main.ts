// The program: reads config once, then serves over stdio (default) or HTTP, or runs a command.
import { commandEmbedder, createApp } from '../app.js';
import { runBackfillCommand } from './backfill-command.js';
import { runIndexCommand } from './index-command.js';
import { runExportCommand, runImportCommand } from './transfer-command.js';
import { parseCommandLine } from '../config/command-line.js';
import { checkDataDir } from '../config/data-dir.js';
import { MemoryError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import type { HttpHandle } from '../transports/http.js';
import { installShutdown } from '../transports/shutdown.js';
import { runStdio } from '../transports/stdio.js';
import { VERSION } from '../shared/version.js';

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const parsed = parseCommandLine(argv, env);
  if (parsed.kind === 'help') {
    process.stdout.write(parsed.text + '\n');
    return;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(VERSION + '\n');
    return;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`vector-memory-mcp: ${parsed.message}\n`);
    process.exit(2);
  }
  const { config } = parsed;
  const logger = createLogger(config.logLevel);
  let app: ReturnType<typeof createApp>;
  try {
    checkDataDir(config.dataDir);
    const overrides: Parameters<typeof createApp>[2] = {};
    if (parsed.command !== 'serve') {
      // Commands describe the index the server keeps: its recorded model, not another one.
      const chosen = await commandEmbedder(config, logger);
      if (chosen.refused !== undefined) {
        process.stderr.write(`vector-memory-mcp: ${chosen.refused}\n`);
        process.exit(2);
      }
      if (chosen.embedder) overrides.embedder = chosen.embedder;
    }
    app = createApp(config, logger, overrides);
  } catch (err) {
    if (err instanceof MemoryError && err.code === 'CONFIG_INVALID') {
      process.stderr.write(`vector-memory-mcp: ${err.message}\n  (${err.hint})\n`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.command === 'backfill') process.exit(await runBackfillCommand(app, parsed.backfill, logger));
  if (parsed.command === 'export') process.exit(await runExportCommand(app, parsed.export, logger));
  if (parsed.command === 'import') process.exit(await runImportCommand(app, parsed.import, logger));
  if (parsed.command === 'health' || parsed.command === 'repair') {
    const json = parsed.command === 'health' ? parsed.json || process.stdout.isTTY !== true : true;
    process.exit(await runIndexCommand(app, parsed.command === 'repair' ? parsed.repair : null, json));
  }
  if (config.transport === 'stdio') return runStdio(app, logger);
  await app.open();
  let http: HttpHandle;
  try {
    // Loaded only when asked for: stdio users should not pay for loading the HTTP stack.
    const { startHttp } = await import('../transports/http.js');
    http = await startHttp(app, logger);
  } catch (err) {
    await app.close();
    if (err instanceof MemoryError && err.code === 'CONFIG_INVALID') {
      process.stderr.write(`vector-memory-mcp: ${err.message}\n  (${err.hint})\n`);
      process.exit(2);
    }
    throw err;
  }
  installShutdown(logger, config.shutdownTimeoutMs, () => app.close(() => http.close()));
  app.start();
}
