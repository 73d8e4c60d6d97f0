// The on-disk snapshot of the search index: one file, written atomically (temporary file,
// fsync, rename, fsync of the folder), ending in a sha256 of everything before it, so a
// torn, truncated or bit-flipped file is detected on load and never served.
//
//   "VMMSNAP1" | u32 LE header length | header JSON | faiss index bytes | sha256 (32 bytes)
import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { setImmediate as turn } from 'node:timers/promises';
import type { TrainingInfo } from './index-state.js';
export { writeFileAtomicAsync } from '../fs-atomic.js';

const MAGIC = Buffer.from('VMMSNAP1', 'ascii');
const FORMAT = 1;

export interface SnapshotHeader {
  format: number;
  fingerprint: string;
  dimension: number;
  /** Vectors in the faiss index, tombstones included (= labels.length). */
  count: number;
  /** Live memories in the index. */
  live: number;
  /** Every store change with seq <= appliedSeq is reflected. */
  appliedSeq: number;
  createdAt: string;
  /** label -> memory id, null for a tombstone. */
  ids: (string | null)[];
  /** label -> short content hash of the text the vector was made from. */
  hashes: (string | null)[];
  /** IVF snapshots: how the index was trained (absent for Flat). */
  training?: TrainingInfo | null;
}

export interface Snapshot {
  header: SnapshotHeader;
  index: Buffer;
}

export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}

/**
 * The snapshot as parts to write (head, index bytes, sha256 of both), built without copying the
 * index: large fresh buffers are slow to touch here (joining 150 MB took 70-490 ms), and the
 * checksum is computed in 8 MB steps that each hold the event loop briefly.
 */
export async function encodeSnapshotAsync(
  header: Omit<SnapshotHeader, 'format'>,
  indexBytes: Buffer | Promise<Buffer>,
): Promise<Uint8Array[]> {
  // The header is encoded before the first await: the caller's map may change right after.
  const json = Buffer.from(JSON.stringify({ format: FORMAT, ...header }), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length, 0);
  const head = Buffer.concat([MAGIC, len, json]);
  const index = await indexBytes;
  const digest = await sha256InSteps([head, index]);
  return [head, index, digest];
}

/** Reads and checks a snapshot without blocking the event loop on the read or the hash. */
export async function readSnapshotFileAsync(path: string): Promise<Snapshot> {
  const file = await readFile(path);
  checkShape(file);
  return parse(file, await sha256InSteps([file.subarray(0, file.length - 32)]));
}

const HASH_STEP = 8 * 1024 * 1024;

async function sha256InSteps(parts: readonly Uint8Array[]): Promise<Buffer> {
  const hash = createHash('sha256');
  for (const part of parts) {
    for (let at = 0; at < part.length; at += HASH_STEP) {
      hash.update(part.subarray(at, Math.min(part.length, at + HASH_STEP)));
      await turn();
    }
  }
  return hash.digest();
}

function checkShape(file: Buffer): void {
  if (file.length < MAGIC.length + 4 + 32) throw new SnapshotError(`file too short (${file.length} bytes)`);
  if (!file.subarray(0, MAGIC.length).equals(MAGIC)) throw new SnapshotError('not a snapshot file (bad magic)');
}

function parse(file: Buffer, digest: Buffer): Snapshot {
  const body = file.subarray(0, file.length - 32);
  if (!digest.equals(file.subarray(file.length - 32))) {
    throw new SnapshotError('checksum mismatch (truncated or corrupted file)');
  }
  const headerLen = body.readUInt32LE(MAGIC.length);
  const headerEnd = MAGIC.length + 4 + headerLen;
  if (headerEnd > body.length) throw new SnapshotError('header length out of range');
  let header: SnapshotHeader;
  try {
    header = JSON.parse(body.subarray(MAGIC.length + 4, headerEnd).toString('utf8')) as SnapshotHeader;
  } catch {
    throw new SnapshotError('header is not valid JSON');
  }
  if (header.format !== FORMAT) throw new SnapshotError(`unsupported snapshot format ${String(header.format)}`);
  if (!Array.isArray(header.ids) || header.ids.length !== header.count || header.hashes?.length !== header.count) {
    throw new SnapshotError('header id map does not match its count');
  }
  return { header, index: body.subarray(headerEnd) };
}

/** The header alone (no checksum check): enough to learn which model a snapshot file belongs to. */
export async function readSnapshotHeader(path: string): Promise<Omit<SnapshotHeader, 'ids' | 'hashes'>> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(MAGIC.length + 4);
    await file.read(head, 0, head.length, 0);
    if (!head.subarray(0, MAGIC.length).equals(MAGIC)) throw new SnapshotError('not a snapshot file (bad magic)');
    const json = Buffer.alloc(head.readUInt32LE(MAGIC.length));
    await file.read(json, 0, json.length, head.length);
    const { ids: _ids, hashes: _hashes, ...header } = JSON.parse(json.toString('utf8')) as SnapshotHeader;
    return header;
  } finally {
    await file.close();
  }
}
