// A progress bar on a terminal and log lines written meanwhile: each log line clears the bar,
// prints itself whole, and draws the bar again below it, so neither overwrites the other. Run on
// a real pseudo-terminal (script(1)), since the bar is drawn only when stderr is a TTY.
/* eslint-disable no-control-regex -- the terminal escape sequences under test are control characters */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const dist = join(fileURLToPath(new URL('..', import.meta.url)), 'dist');

describe('status line', () => {
  it('keeps the progress bar below log lines on a terminal, and prints only log lines when piped', () => {
    const program = [
      `const { progressBar, endProgressBar } = await import('${dist}/cli/progress-bar.js');`,
      `const { createLogger } = await import('${dist}/shared/logger.js');`,
      `const log = createLogger('info');`,
      `progressBar(1, 4); log.info('first log line'); progressBar(2, 4); log.warn('second log line');`,
      `progressBar(4, 4); endProgressBar(); log.info('after the bar');`,
    ].join(' ');
    const command = `${process.execPath} --input-type=module -e "${program.replace(/"/g, '\\"')}" 2>&1`;
    const tty = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8' });
    assert.equal(tty.status, 0, tty.stderr);
    const out = tty.stdout.replace(/\r\n/g, '\n');
    // Each log line starts on a cleared line and is followed by the bar as it was.
    assert.match(out, /\r\x1b\[K[^\n]*first log line[^\n]*\n\[#+\.+\] 1\/4/);
    assert.match(out, /\r\x1b\[K[^\n]*second log line[^\n]*\n\[#+\.+\] 2\/4/);
    assert.match(out, /\] 4\/4\n[^\n]*after the bar/, 'the finished bar stays; later lines go below it');
    // What the terminal shows: on each row, what follows the last carriage return (and clear).
    const rows = out.split('\n').map((row) => row.split(/\r(?:\x1b\[K)?/).at(-1) ?? '');
    for (const row of rows.filter((r) => r.includes('log line'))) {
      assert.ok(!/\d\/4/.test(row), `a log line shares no row with the bar: ${JSON.stringify(row)}`);
    }
    // The screen: every log line whole, on its own row, and the finished bar below them.
    assert.deepEqual(
      rows.map((r) => r.replace(/^\S+Z /, '').replace(/\s+/g, ' ')),
      ['INFO first log line', 'WARN second log line', `[${'#'.repeat(30)}] 4/4`, 'INFO after the bar', ''],
    );

    const piped = spawnSync(process.execPath, ['--input-type=module', '-e', program], { encoding: 'utf8' });
    assert.equal(piped.status, 0, piped.stderr);
    assert.ok(!piped.stderr.includes('\x1b[K') && !piped.stderr.includes('1/4'), 'no bar when not a terminal');
    assert.match(piped.stderr, /first log line[\s\S]*second log line[\s\S]*after the bar/);
  });
});
