// One process at a time writes an index snapshot. The lock is a file created exclusively
// (O_EXCL) holding the holder's pid, host and start time. A lock whose holder is dead (same
// host, pid gone) or that is older than `staleMs` (a crashed holder on another host, or a
// reused pid) is broken, so a crash never blocks the other processes for good.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';

interface Holder {
  pid: number;
  host: string;
  at: number;
  token: string;
}

export type LockResult = { acquired: true; release: () => void } | { acquired: false; holder: Holder | null };

export function tryLock(path: string, staleMs: number, now: () => number = Date.now): LockResult {
  mkdirSync(dirname(path), { recursive: true });
  const me: Holder = { pid: process.pid, host: hostname(), at: now(), token: `${process.pid}-${Math.random()}` };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      return {
        acquired: true,
        release: () => {
          // Only remove the lock if it is still ours (it may have been broken as stale).
          if (readHolder(path)?.token === me.token) rmSync(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readHolder(path);
      if (holder && !isStale(holder, staleMs, now())) return { acquired: false, holder };
      rmSync(path, { force: true }); // stale, unreadable or half-written: break it and try again
    }
  }
  return { acquired: false, holder: readHolder(path) };
}

/**
 * The holder when another process holds the lock now (and is not stale), else null. A hint to
 * skip work before trying; `tryLock` decides.
 */
export function heldByAnother(path: string, staleMs: number, now: () => number = Date.now): Holder | null {
  const holder = readHolder(path);
  if (!holder || (holder.pid === process.pid && holder.host === hostname())) return null;
  return isStale(holder, staleMs, now()) ? null : holder;
}

function readHolder(path: string): Holder | null {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as Holder;
    return typeof h.pid === 'number' && typeof h.at === 'number' ? h : null;
  } catch {
    return null;
  }
}

export function isStale(holder: Holder, staleMs: number, now: number): boolean {
  if (now - holder.at > staleMs) return true;
  if (holder.host !== hostname()) return false;
  if (holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
