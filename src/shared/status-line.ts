// One status line at the bottom of a terminal's stderr (a progress bar). Log lines written
// meanwhile clear it, print themselves, and draw it again, so the two never overwrite each other.

let current: string | null = null;

/** Shows `text` as the status line (null removes it). Only on a terminal. */
export function setStatusLine(text: string | null): void {
  if (!process.stderr.isTTY) return;
  process.stderr.write(`\r\x1b[K${text ?? ''}`);
  current = text;
}

/** Writes a whole log line to stderr, keeping the status line below it. */
export function writeLogLine(line: string): void {
  if (current === null) {
    process.stderr.write(line + '\n');
    return;
  }
  process.stderr.write(`\r\x1b[K${line}\n${current}`);
}

/** Ends the status line, leaving its last text on screen. */
export function endStatusLine(): void {
  if (current === null) return;
  process.stderr.write('\n');
  current = null;
}
