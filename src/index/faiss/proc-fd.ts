// How one thread makes faiss open a file another open file descriptor already holds: through
// /proc/self/fd/N on Linux, which reaches that very file even if its folder was deleted or its
// path renamed over meanwhile. Elsewhere, the path itself.
import { existsSync } from 'node:fs';

const PROC_FD = '/proc/self/fd';
const hasProcFd = existsSync(PROC_FD);

export function fdPath(fd: number, path: string): string {
  return hasProcFd ? `${PROC_FD}/${fd}` : path;
}
