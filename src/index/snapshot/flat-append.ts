// A Flat generation's next snapshot, made without the FAISS worker: a Flat-IP index is a header
// and its vectors in label order, and between compactions a generation only ever appends (a
// delete is a tombstone in our map, not a change to faiss). So the index part of the next
// snapshot is the previous snapshot's index part with a new vector count and the vectors added
// since appended; the file is copied, and the copy checked against the checksum it was written
// with, while the worker goes on answering searches. Having faiss write 1M vectors
// held the worker, and every search queued behind it, for 1-4 s.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, open, rm } from 'node:fs/promises';
import { writeFully } from '../../shared/fs-atomic.js';
import { FLAT_HEADER_BYTES, FLAT_IP_FOURCC, NTOTAL_OFFSET, flatHeader } from '../faiss/faiss-format.js';
import { SnapshotError, hashIntoFromFile } from './snapshot.js';

/** 1 MB read and hashed (twice) at a time: about 1.5 ms of the event loop per step, while searches are served. */
const STEP = 1024 * 1024;

/** A snapshot's Flat index part as this process wrote or read it. */
export interface FlatBase {
  /** Vectors in it (labels 0 .. rows - 1). */
  rows: number;
  /** Bytes of the index part, and their sha256 as recorded in the snapshot's trailer. */
  faissLength: number;
  digest: Buffer;
}

/**
 * Writes into `tmp` (created here) a Flat index part holding `base`'s vectors, read from the
 * snapshot file at `basePath`, followed by `rows` (row-major blocks, `dimension` floats a row).
 * Resolves to its length and sha256, or to null (and `tmp` removed) when the file at
 * `basePath` no longer holds `base` (another process replaced it, or it was damaged).
 */
export async function appendToFlat(
  basePath: string,
  base: FlatBase,
  tmp: string,
  rows: readonly Float32Array[],
  dimension: number,
): Promise<{ faissLength: number; digest: Buffer } | null> {
  const added = rows.reduce((n, r) => n + r.length, 0) / dimension;
  if (!Number.isInteger(added)) throw new RangeError(`the vectors added are not rows of ${dimension}`);
  if (base.faissLength !== FLAT_HEADER_BYTES + base.rows * dimension * 4) return null;
  // The kernel copies the file (no pass through this process); the copy is then read once, for
  // the checksum it must have (it is the file this process wrote or read) and the new one.
  try {
    await copyFile(basePath, tmp, constants.COPYFILE_EXCL);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const file = await open(tmp, 'r+');
  let ok = false;
  try {
    const before = createHash('sha256');
    const after = createHash('sha256');
    const head = Buffer.alloc(FLAT_HEADER_BYTES);
    if ((await file.read(head, 0, head.length, 0)).bytesRead !== head.length) return null;
    if (head.toString('latin1', 0, 4) !== FLAT_IP_FOURCC || Number(head.readBigInt64LE(NTOTAL_OFFSET)) !== base.rows) {
      return null;
    }
    before.update(head);
    const newHead = flatHeader(dimension, base.rows + added);
    after.update(newHead);
    try {
      await hashIntoFromFile(file, FLAT_HEADER_BYTES, base.faissLength, [before, after], STEP);
    } catch (err) {
      if (err instanceof SnapshotError) return null; // shorter than it was
      throw err;
    }
    if (!before.digest().equals(base.digest)) return null;
    await writeFully(file, newHead, 0);
    let at = base.faissLength;
    for (const r of rows) {
      const bytes = Buffer.from(r.buffer, r.byteOffset, r.byteLength);
      after.update(bytes);
      await writeFully(file, bytes, at);
      at += bytes.length;
    }
    // (What followed the old index part, its header and trailer, is overwritten or cut by completeSnapshot.)
    ok = true;
    return { faissLength: at, digest: after.digest() };
  } finally {
    await file.close();
    if (!ok) await rm(tmp, { force: true });
  }
}
