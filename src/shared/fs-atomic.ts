import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `bytes` (one buffer, or parts written one after the other) to `path` so that a crash
 * leaves either the old file or the new one.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array | readonly Uint8Array[]): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | undefined = openSync(tmp, 'w', 0o600);
  try {
    for (const part of bytes instanceof Uint8Array ? [bytes] : bytes) {
      let off = 0;
      while (off < part.length) off += writeSync(fd, part, off, part.length - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename itself is still atomic.
  }
}

/** Writes all of `bytes` to an open file, at `position` (or where the file stands), however many writes it takes. */
export async function writeFully(file: FileHandle, bytes: Uint8Array, position?: number): Promise<void> {
  for (let off = 0; off < bytes.length;) {
    off += (await file.write(bytes, off, bytes.length - off, position === undefined ? null : position + off))
      .bytesWritten;
  }
}

/**
 * The last step of an atomic write done without blocking the event loop: `tmp` (complete and
 * fsynced by the caller) replaces `path` by rename, then the folder is fsynced.
 */
export async function replaceAtomically(tmp: string, path: string): Promise<void> {
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  try {
    const d = await open(dirname(path), 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename itself is still atomic.
  }
}
