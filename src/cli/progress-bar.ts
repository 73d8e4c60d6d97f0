import { endStatusLine, setStatusLine } from '../shared/status-line.js';

const WIDTH = 30;

/** A progress bar on a terminal's status line (nothing when stderr is not a terminal). */
export function progressBar(done: number, total: number, suffix = ''): void {
  const filled = total > 0 ? Math.min(WIDTH, Math.round((done / total) * WIDTH)) : WIDTH;
  setStatusLine(`[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${done}/${total}${suffix}`);
}

export const endProgressBar = endStatusLine;
