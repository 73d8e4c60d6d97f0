// faiss 1.7.3's serialized layout (impl/index_write.cpp) of the two index types we use, so that
// indexes can be made from raw float32 data and handed to faiss's own reader: faiss-node reads
// vectors from plain JS arrays one element at a time (about 0.25 µs per float), its reader copies
// bytes. Pure byte work: no faiss-node here. Every size is checked before faiss sees the bytes,
// because a malformed index can abort the process inside faiss.
//
// Index header (write_index_header): d:int32, ntotal:int64, two int64 (1 << 20), is_trained:u8,
// metric_type:int32 (no metric_arg for inner product).
// Flat-IP ("IxFI"): fourcc, header, codes as count:uint64 (of floats) then the float32s.
// IVF-Flat ("IwFl"): fourcc, header, nlist:uint64, nprobe:uint64, the quantizer (a Flat-IP
// index of the centroids), the direct map (type:u8, count:uint64 = 0), then the inverted lists:
// "ilar", nlist:uint64, code_size:uint64, "full", sizes (count:uint64 = nlist, then nlist
// uint64), and per non-empty list its codes (n x d float32) then its ids (n x int64).

export const FLAT_IP_FOURCC = 'IxFI';
export const IVF_FLAT_FOURCC = 'IwFl';
export const NTOTAL_OFFSET = 8;
export const NLIST_OFFSET = 37;
export const NPROBE_OFFSET = 45;
/** Bytes of a Flat-IP index before its floats. */
export const FLAT_HEADER_BYTES = 45;
const QUANTIZER_OFFSET = 53;
const DIRECT_MAP_BYTES = 9;
const HEADER_DUMMY = 1n << 20n;
const METRIC_INNER_PRODUCT = 0;

function writeIndexHeader(b: Buffer, fourcc: string, dimension: number, ntotal: number): void {
  b.write(fourcc, 0, 'latin1');
  b.writeInt32LE(dimension, 4);
  b.writeBigInt64LE(BigInt(ntotal), NTOTAL_OFFSET);
  b.writeBigInt64LE(HEADER_DUMMY, 16);
  b.writeBigInt64LE(HEADER_DUMMY, 24);
  b.writeUInt8(1, 32);
  b.writeInt32LE(METRIC_INNER_PRODUCT, 33);
}

/** The bytes before the `count` x `dimension` float32s of a Flat-IP index. */
export function flatHeader(dimension: number, count: number): Buffer {
  const b = Buffer.alloc(FLAT_HEADER_BYTES);
  writeIndexHeader(b, FLAT_IP_FOURCC, dimension, count);
  b.writeBigUInt64LE(BigInt(count * dimension), 37);
  return b;
}

/** A trained IVF-Flat index, parsed: where its centroids are, and what precedes its lists. */
export interface IvfLayout {
  dimension: number;
  nlist: number;
  nprobe: number;
  /** The centroids, nlist x dimension (a view into the bytes). */
  centroids: Float32Array;
  /** Everything before the inverted lists (fourcc through direct map). */
  prefix: Buffer;
}

/**
 * Parses a trained, empty IVF-Flat index (as faiss wrote it) of inner-product over `dimension`.
 * Throws on anything else, so that bytes made from it are exactly what faiss expects.
 */
export function parseEmptyIvf(bytes: Buffer, dimension: number): IvfLayout {
  const fail = (why: string): never => {
    throw new Error(`not a trained, empty IVF-Flat index of dimension ${dimension}: ${why}`);
  };
  if (bytes.length < QUANTIZER_OFFSET + FLAT_HEADER_BYTES) fail('too short');
  if (bytes.toString('latin1', 0, 4) !== IVF_FLAT_FOURCC) fail('wrong type');
  if (bytes.readInt32LE(4) !== dimension) fail(`dimension ${bytes.readInt32LE(4)}`);
  if (bytes.readBigInt64LE(NTOTAL_OFFSET) !== 0n) fail('it holds vectors');
  if (bytes.readUInt8(32) !== 1 || bytes.readInt32LE(33) !== METRIC_INNER_PRODUCT)
    fail('untrained or not inner product');
  const nlist = Number(bytes.readBigUInt64LE(NLIST_OFFSET));
  const nprobe = Number(bytes.readBigUInt64LE(NPROBE_OFFSET));
  const q = QUANTIZER_OFFSET;
  if (bytes.toString('latin1', q, q + 4) !== FLAT_IP_FOURCC) fail('quantizer is not Flat-IP');
  if (bytes.readInt32LE(q + 4) !== dimension || Number(bytes.readBigInt64LE(q + 8)) !== nlist) fail('quantizer size');
  if (Number(bytes.readBigUInt64LE(q + 37)) !== nlist * dimension) fail('centroid count');
  const centroidsAt = q + FLAT_HEADER_BYTES;
  const listsAt = centroidsAt + nlist * dimension * 4 + DIRECT_MAP_BYTES;
  // The empty lists: "ilar", nlist, code_size, "sprs", an empty sizes vector.
  if (bytes.length !== listsAt + 32) fail('unexpected length');
  if (bytes.readUInt8(listsAt - DIRECT_MAP_BYTES) !== 0 || bytes.readBigUInt64LE(listsAt - 8) !== 0n)
    fail('direct map');
  if (bytes.toString('latin1', listsAt, listsAt + 4) !== 'ilar') fail('inverted lists are not arrays');
  if (
    Number(bytes.readBigUInt64LE(listsAt + 4)) !== nlist ||
    Number(bytes.readBigUInt64LE(listsAt + 12)) !== dimension * 4
  ) {
    fail('inverted list shape');
  }
  const copy = Buffer.from(bytes.subarray(centroidsAt, centroidsAt + nlist * dimension * 4));
  const centroids = new Float32Array(copy.buffer, copy.byteOffset, nlist * dimension);
  return { dimension, nlist, nprobe, centroids, prefix: Buffer.from(bytes.subarray(0, listsAt)) };
}

/**
 * The parts of an IVF-Flat index holding `data` (row-major, dimension floats per row) in the
 * lists `assign` gives, with ids `firstId`, `firstId + 1`, ...: in order, to be written one
 * after the other. Rows keep their order within a list, as faiss's add keeps it.
 */
export function ivfParts(layout: IvfLayout, data: Float32Array, assign: Int32Array, firstId: number): Buffer[] {
  const { dimension: d, nlist } = layout;
  const n = assign.length;
  if (data.length !== n * d) throw new RangeError(`${data.length} floats are not ${n} rows of ${d}`);
  const sizes = new Array<number>(nlist).fill(0);
  for (let i = 0; i < n; i++) {
    const list = assign[i]!;
    if (!(list >= 0 && list < nlist)) throw new RangeError(`row ${i} assigned to list ${list} of ${nlist}`);
    sizes[list]!++;
  }
  const head = Buffer.from(layout.prefix);
  head.writeBigInt64LE(BigInt(n), NTOTAL_OFFSET);
  const lists = Buffer.alloc(4 + 8 + 8 + 4 + 8 + 8 * nlist);
  lists.write('ilar', 0, 'latin1');
  lists.writeBigUInt64LE(BigInt(nlist), 4);
  lists.writeBigUInt64LE(BigInt(d * 4), 12);
  lists.write('full', 20, 'latin1');
  lists.writeBigUInt64LE(BigInt(nlist), 24);
  // Rows of each list, in order: a counting sort.
  const start = new Int32Array(nlist + 1);
  for (let l = 0; l < nlist; l++) {
    lists.writeBigUInt64LE(BigInt(sizes[l]!), 32 + 8 * l);
    start[l + 1] = start[l]! + sizes[l]!;
  }
  const order = new Int32Array(n);
  const fill = start.slice(0, nlist);
  for (let i = 0; i < n; i++) order[fill[assign[i]!]!++] = i;
  const parts = [head, lists];
  for (let l = 0; l < nlist; l++) {
    const count = sizes[l]!;
    if (count === 0) continue;
    const codes = new Float32Array(count * d);
    const ids = new BigInt64Array(count);
    for (let j = 0; j < count; j++) {
      const row = order[start[l]! + j]!;
      codes.set(data.subarray(row * d, (row + 1) * d), j * d);
      ids[j] = BigInt(firstId + row);
    }
    parts.push(Buffer.from(codes.buffer), Buffer.from(ids.buffer));
  }
  return parts;
}
