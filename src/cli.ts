#!/usr/bin/env node
// Command-line entry: reads config once, then runs the stdio server.
import { createApp } from './app.js';
import { parseCommandLine } from './config.js';
import { errorMessage } from './errors.js';
import { createLogger } from './logger.js';
import { runStdio } from './transports/stdio.js';
import { VERSION } from './version.js';

async function main(): Promise<void> {
  const parsed = parseCommandLine(process.argv.slice(2), process.env);
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
  if (config.falkordbUrl !== undefined) {
    process.stderr.write(
      'vector-memory-mcp: invalid setting FALKORDB_URL (--falkordb-url): the FalkorDB store is not available in ' +
        'this version yet; unset it to use the embedded SQLite store\n',
    );
    process.exit(2);
  }
  const logger = createLogger(config.logLevel);
  const app = createApp(config, logger);
  await runStdio(app, logger);
}

main().catch((err: unknown) => {
  process.stderr.write(`vector-memory-mcp: fatal: ${errorMessage(err)}\n`);
  process.exit(1);
});
