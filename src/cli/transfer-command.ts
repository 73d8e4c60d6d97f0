// `vector-memory-mcp export` and `vector-memory-mcp import`: memories to and from JSON lines.
// Import reads and checks the whole file before it writes anything; progress goes to a status
// line on a terminal, to log lines otherwise; the summary is one JSON line on stdout.
import { createReadStream, createWriteStream, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import type { App } from '../app.js';
import type { ExportCommand, ImportCommand } from '../config/command-line.js';
import { exportLines } from '../memory/export-flow.js';
import { parseImportLine, type ImportRecord } from '../memory/transfer-format.js';
import { MemoryError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { endProgressBar, progressBar } from './progress-bar.js';

export async function runExportCommand(app: App, command: ExportCommand, logger: Logger): Promise<number> {
  await app.open();
  // Into a temporary file renamed at the end: an interrupted export leaves no half file behind.
  const partial = command.out !== undefined ? `${command.out}.partial-${process.pid}` : undefined;
  const out: Writable = partial !== undefined ? createWriteStream(partial) : process.stdout;
  let count = 0;
  try {
    for await (const line of exportLines(app.store, command)) {
      if (!out.write(line + '\n')) await once(out, 'drain');
      count++;
    }
    if (partial !== undefined) {
      out.end();
      await once(out, 'finish');
      renameSync(partial, command.out!);
      process.stdout.write(JSON.stringify({ exported: count, file: command.out }) + '\n');
    } else {
      logger.info('export finished', { exported: count });
    }
    return 0;
  } catch (err) {
    if (partial !== undefined) rmSync(partial, { force: true });
    process.stderr.write(`vector-memory-mcp: export failed: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    await app.close();
  }
}

export async function runImportCommand(app: App, command: ImportCommand, logger: Logger): Promise<number> {
  let records: ImportRecord[];
  try {
    records = await readRecords(command);
  } catch (err) {
    return fail(err);
  }
  await app.open();
  try {
    // Writes do not need the search index; with it open they are searchable when the import ends.
    await app.service.ready().catch((err: unknown) => {
      logger.warn('search index not open: the next server start indexes the imported memories', {
        error: errorMessage(err),
      });
    });
    const tty = process.stderr.isTTY === true;
    let lastLine = 0;
    const summary = await app.service.importRecords(records, {
      onProgress: (done, total) => {
        if (tty) progressBar(done, total, ' imported');
        else if (done === total || Date.now() - lastLine > 2000) {
          lastLine = Date.now();
          logger.info('import progress', { done, total });
        }
      },
    });
    endProgressBar();
    process.stdout.write(JSON.stringify({ file: command.file, from: command.from, ...summary }) + '\n');
    return 0;
  } catch (err) {
    endProgressBar();
    return fail(err);
  } finally {
    await app.close();
  }
}

async function readRecords(command: ImportCommand): Promise<ImportRecord[]> {
  const records: ImportRecord[] = [];
  const input = createReadStream(command.file, 'utf8');
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) records.push(...parseImportLine(line, ++n, command.from, command.namespace));
  } catch (err) {
    if (err instanceof MemoryError) throw err; // a line that does not parse
    throw new MemoryError('INVALID_INPUT', `cannot read ${command.file}: ${errorMessage(err)}`, {
      hint: 'pass the path of a file written by export (or by server-memory, with --from server-memory)',
    });
  } finally {
    lines.close();
    input.destroy();
  }
  return records;
}

function fail(err: unknown): number {
  const hint = err instanceof MemoryError && err.hint ? `\n  (${err.hint})` : '';
  const code = err instanceof MemoryError ? `${err.code}: ` : '';
  process.stderr.write(`vector-memory-mcp: import failed: ${code}${errorMessage(err)}${hint}\n`);
  return 1;
}
