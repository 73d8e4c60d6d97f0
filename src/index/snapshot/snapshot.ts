// The on-disk snapshot of the search index: one file, written atomically (temporary file,
// fsync, rename, fsync of the folder), with checksums of both of its parts, so a torn,
// truncated or bit-flipped file is detected on load and never served.
//
//   faiss index bytes | header | trailer (84 bytes):
//     u64 LE faiss length | u32 LE header length | sha256(faiss bytes) | sha256(header) | "VMMSNAP2"
//   header = one line of JSON (everything but the id map), then the id map as lines of JSON
//   arrays of at most 50,000 entries: the ids' lines, then the content hashes' lines.
//
// The map is encoded and parsed a line at a time with a turn of the event loop between lines:
// as one JSON document, a large map is one stall of most of a second to encode or parse.
//
// The faiss bytes come first because faiss writes and reads them itself, from the start of a
// file (`write_index` / `read_index` on a path): faiss-node's in-memory (de)serialization leaks
// a full copy of the index on every call (its VectorIOWriter/Reader is never deleted), so
// snapshots never go through memory. The trailer lets the header be read without the index.
import { createHash, type Hash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { setImmediate as turn } from 'node:timers/promises';
import { replaceAtomically, writeFully } from '../../shared/fs-atomic.js';
import type { TrainingInfo } from '../index-state.js';

const MAGIC = Buffer.from('VMMSNAP2', 'ascii');
const FORMAT = 2;
export const TRAILER_BYTES = 8 + 4 + 32 + 32 + MAGIC.length;
/** Header JSON above this is refused as corrupt (a 10M-memory id map is ~500 MB). */
const MAX_HEADER_BYTES = 1024 * 1024 * 1024;

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

export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}

/** Entries of the id map per line of the header. */
const MAP_LINE = 50_000;
const NEWLINE = 0x0a;

/**
 * The header as lines of bytes. The caller passes arrays nobody changes meanwhile (copies of
 * the map, taken in the same synchronous step as the index write was posted).
 */
export async function encodeHeader(header: Omit<SnapshotHeader, 'format'>): Promise<Buffer[]> {
  const { ids, hashes, ...meta } = header;
  const lines = [Buffer.from(`${JSON.stringify({ format: FORMAT, ...meta })}\n`, 'utf8')];
  for (const list of [ids, hashes]) {
    for (let at = 0; at < list.length; at += MAP_LINE) {
      lines.push(Buffer.from(`${JSON.stringify(list.slice(at, at + MAP_LINE))}\n`, 'utf8'));
      await turn();
    }
  }
  return lines;
}

type SnapshotMeta = Omit<SnapshotHeader, 'ids' | 'hashes'>;

/** The header's first line: everything but the id map. */
function decodeMeta(bytes: Buffer): { meta: SnapshotMeta; end: number } {
  const end = bytes.indexOf(NEWLINE);
  if (end < 0) throw new SnapshotError('header has no first line');
  let meta: SnapshotMeta;
  try {
    meta = JSON.parse(bytes.subarray(0, end).toString('utf8')) as SnapshotMeta;
  } catch {
    throw new SnapshotError('header is not valid JSON');
  }
  if (meta.format !== FORMAT) throw new SnapshotError(`unsupported snapshot format ${String(meta.format)}`);
  if (!Number.isInteger(meta.count) || meta.count < 0) throw new SnapshotError('header has no valid count');
  return { meta, end };
}

async function decodeHeader(bytes: Buffer): Promise<SnapshotHeader> {
  const first = decodeMeta(bytes);
  const meta = first.meta;
  let end = first.end;
  const lists: (string | null)[][] = [[], []];
  for (const list of lists) {
    while (list.length < meta.count) {
      const start = end + 1;
      end = bytes.indexOf(NEWLINE, start);
      if (end < 0) throw new SnapshotError('header id map ends early');
      let entries: unknown;
      try {
        entries = JSON.parse(bytes.subarray(start, end).toString('utf8'));
      } catch {
        throw new SnapshotError('header id map is not valid JSON');
      }
      if (!Array.isArray(entries) || entries.length === 0) throw new SnapshotError('header id map line is not a list');
      for (const e of entries as unknown[]) list.push(typeof e === 'string' ? e : null);
      await turn();
    }
  }
  if (end !== bytes.length - 1 || lists[0]!.length !== meta.count || lists[1]!.length !== meta.count) {
    throw new SnapshotError('header id map does not match its count');
  }
  return { ...meta, ids: lists[0]!, hashes: lists[1]! };
}

function encodeTrailer(faissLength: number, header: readonly Buffer[], faissDigest: Buffer): Buffer {
  const t = Buffer.alloc(TRAILER_BYTES);
  const hash = createHash('sha256');
  let length = 0;
  for (const line of header) {
    hash.update(line);
    length += line.length;
  }
  t.writeBigUInt64LE(BigInt(faissLength), 0);
  t.writeUInt32LE(length, 8);
  faissDigest.copy(t, 12);
  hash.digest().copy(t, 44);
  MAGIC.copy(t, 76);
  return t;
}

/**
 * Completes a snapshot whose faiss part (`faissLength` bytes) is already in `tmp`: appends the
 * header and the trailer with both checksums, fsyncs, and renames it over `path`. A crash at any
 * point leaves the old snapshot or the new one; `tmp` is removed on failure. `faissDigest`: the
 * faiss part's sha256 when its writer computed it (else it is read back and hashed). Resolves to
 * the faiss part's sha256.
 */
export async function completeSnapshot(
  tmp: string,
  path: string,
  faissLength: number,
  header: readonly Buffer[],
  faissDigest?: Buffer,
): Promise<Buffer> {
  const file = await open(tmp, 'r+');
  let digest: Buffer;
  try {
    digest = faissDigest ?? (await hashFileRange(file, faissLength));
    let at = faissLength;
    for (const part of [...header, encodeTrailer(faissLength, header, digest)]) {
      await writeFully(file, part, at);
      at += part.length;
    }
    await file.truncate(at);
    await file.sync();
  } catch (err) {
    await file.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await file.close();
  await replaceAtomically(tmp, path);
  return digest;
}

const HASH_STEP = 8 * 1024 * 1024;

async function sha256InSteps(bytes: Buffer): Promise<Buffer> {
  const hash = createHash('sha256');
  for (let at = 0; at < bytes.length; at += HASH_STEP) {
    hash.update(bytes.subarray(at, Math.min(bytes.length, at + HASH_STEP)));
    await turn();
  }
  return hash.digest();
}

/** sha256 of bytes [0, length) of an open file (see hashIntoFromFile). */
export async function hashFileRange(file: FileHandle, length: number): Promise<Buffer> {
  const hash = createHash('sha256');
  await hashIntoFromFile(file, 0, length, [hash]);
  return hash.digest();
}

/**
 * Feeds bytes [from, to) of an open file to each of `hashes`, read in steps of `step` bytes
 * (8 MB: about 6 ms of sha256) that each hold the event loop briefly. Throws SnapshotError when
 * the file ends before `to`.
 */
export async function hashIntoFromFile(
  file: FileHandle,
  from: number,
  to: number,
  hashes: readonly Hash[],
  step = HASH_STEP,
): Promise<void> {
  const buf = Buffer.allocUnsafe(Math.min(step, Math.max(1, to - from)));
  for (let at = from; at < to;) {
    const { bytesRead } = await file.read(buf, 0, Math.min(buf.length, to - at), at);
    if (bytesRead === 0) throw new SnapshotError('file ended early (truncated)');
    for (const hash of hashes) hash.update(buf.subarray(0, bytesRead));
    at += bytesRead;
    await turn();
  }
}

export interface OpenSnapshot {
  header: SnapshotHeader;
  /** Bytes of the faiss index at the start of the file. */
  faissLength: number;
  faissDigest: Buffer;
  /** The file, open: the index is read through it, so a rename over the path cannot swap it. */
  file: FileHandle;
}

/**
 * Opens a snapshot and checks its shape, its header checksum and its id map; the faiss part's
 * checksum is checked by `verifyIndexPart` (it is the large part). The caller closes `file`.
 */
export async function openSnapshot(path: string): Promise<OpenSnapshot> {
  const file = await open(path, 'r');
  try {
    const { json, faissLength, faissDigest } = await readHeaderBytes(file);
    return { header: await decodeHeader(json), faissLength, faissDigest, file };
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** Trailer checks, then the header's bytes, checked against their checksum. */
async function readHeaderBytes(file: FileHandle): Promise<{ json: Buffer; faissLength: number; faissDigest: Buffer }> {
  const size = (await file.stat()).size;
  if (size < TRAILER_BYTES) throw new SnapshotError(`file too short (${size} bytes)`);
  const t = Buffer.alloc(TRAILER_BYTES);
  await file.read(t, 0, TRAILER_BYTES, size - TRAILER_BYTES);
  if (!t.subarray(76).equals(MAGIC)) {
    throw new SnapshotError('no snapshot trailer at the end of the file (truncated, corrupted, or an older format)');
  }
  const faissLength = Number(t.readBigUInt64LE(0));
  const headerLength = t.readUInt32LE(8);
  if (headerLength > MAX_HEADER_BYTES || faissLength + headerLength + TRAILER_BYTES !== size) {
    throw new SnapshotError('part lengths do not add up to the file size (checksum trailer damaged)');
  }
  // Not zero-filled: the read fills it (in libuv's threads), and its checksum is checked before use.
  const json = Buffer.allocUnsafeSlow(headerLength);
  for (let got = 0; got < headerLength;) {
    const { bytesRead } = await file.read(json, got, headerLength - got, faissLength + got);
    if (bytesRead === 0) throw new SnapshotError('file ended early (truncated)');
    got += bytesRead;
  }
  if (!(await sha256InSteps(json)).equals(t.subarray(44, 76))) {
    throw new SnapshotError('header checksum mismatch (corrupted file)');
  }
  return { json, faissLength, faissDigest: Buffer.from(t.subarray(12, 44)) };
}

/** Checks the faiss part against its checksum (without blocking the event loop on the hash). */
export async function verifyIndexPart(snap: OpenSnapshot): Promise<void> {
  const digest = await hashFileRange(snap.file, snap.faissLength);
  if (!digest.equals(snap.faissDigest)) throw new SnapshotError('index checksum mismatch (corrupted file)');
}

/** Opens and fully checks a snapshot file (both checksums); returns its header. */
export async function readSnapshotFileAsync(path: string): Promise<{ header: SnapshotHeader }> {
  const snap = await openSnapshot(path);
  try {
    await verifyIndexPart(snap);
    return { header: snap.header };
  } finally {
    await snap.file.close();
  }
}

/**
 * The header's first line (the index part and the id map not read): enough to learn which model
 * a snapshot file belongs to.
 */
export async function readSnapshotHeader(path: string): Promise<SnapshotMeta> {
  const file = await open(path, 'r');
  try {
    return decodeMeta((await readHeaderBytes(file)).json).meta;
  } finally {
    await file.close();
  }
}
