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

/** Reads `length` bytes at `position` of a serialized index (a file range). */
export type ReadAt = (position: number, length: number) => Promise<Buffer>;

/**
 * Checks that `length` bytes hold a Flat-IP or IVF-Flat index over `dimension` whose every size
 * agrees with the others and with the length, reading only the headers and the list sizes (not
 * the vectors), so that faiss can be given the bytes before their checksum is known: damaged
 * floats then make a wrong index that the checksum rejects, never a size that aborts faiss.
 */
export async function checkIndexLayout(read: ReadAt, length: number, dimension: number): Promise<void> {
  const fail = (why: string): never => {
    throw new Error(`index layout: ${why}`);
  };
  const bytes = async (at: number, n: number): Promise<Buffer> => {
    if (at + n > length) fail(`needs ${at + n} bytes, has ${length}`);
    const b = await read(at, n);
    if (b.length !== n) fail('file ended early');
    return b;
  };
  const u64 = (b: Buffer, at: number): number => {
    const v = b.readBigUInt64LE(at);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('a size out of range');
    return Number(v);
  };
  /** The Flat-IP index at `at`: its vector count and where it ends. */
  const flat = async (at: number): Promise<{ ntotal: number; end: number }> => {
    const h = await bytes(at, FLAT_HEADER_BYTES);
    if (h.toString('latin1', 0, 4) !== FLAT_IP_FOURCC) fail('not a Flat-IP index');
    if (h.readInt32LE(4) !== dimension) fail(`dimension ${h.readInt32LE(4)}`);
    if (h.readInt32LE(33) !== METRIC_INNER_PRODUCT) fail('not inner product');
    const ntotal = Number(h.readBigInt64LE(NTOTAL_OFFSET));
    if (!(ntotal >= 0) || u64(h, 37) !== ntotal * dimension) fail('vector count');
    return { ntotal, end: at + FLAT_HEADER_BYTES + ntotal * dimension * 4 };
  };
  const fourcc = (await bytes(0, 4)).toString('latin1');
  if (fourcc === FLAT_IP_FOURCC) {
    if ((await flat(0)).end !== length) fail('length');
    return;
  }
  if (fourcc !== IVF_FLAT_FOURCC) fail(`unsupported index type "${fourcc}"`);
  const h = await bytes(0, QUANTIZER_OFFSET);
  if (h.readInt32LE(4) !== dimension) fail(`dimension ${h.readInt32LE(4)}`);
  if (h.readUInt8(32) !== 1 || h.readInt32LE(33) !== METRIC_INNER_PRODUCT) fail('untrained or not inner product');
  const ntotal = Number(h.readBigInt64LE(NTOTAL_OFFSET));
  const nlist = u64(h, NLIST_OFFSET);
  if (!(ntotal >= 0) || nlist < 1 || nlist > 1 << 24) fail('sizes');
  const quantizer = await flat(QUANTIZER_OFFSET);
  if (quantizer.ntotal !== nlist) fail('centroid count');
  const map = await bytes(quantizer.end, DIRECT_MAP_BYTES);
  if (map.readUInt8(0) !== 0 || u64(map, 1) !== 0) fail('direct map');
  const listsAt = quantizer.end + DIRECT_MAP_BYTES;
  const lists = await bytes(listsAt, 32);
  if (lists.toString('latin1', 0, 4) !== 'ilar') fail('inverted lists are not arrays');
  if (u64(lists, 4) !== nlist || u64(lists, 12) !== dimension * 4) fail('inverted list shape');
  const kind = lists.toString('latin1', 20, 24);
  const count = u64(lists, 24);
  const sizes: number[] = [];
  if (kind === 'full') {
    if (count !== nlist) fail('list sizes');
    const s = await bytes(listsAt + 32, 8 * nlist);
    for (let l = 0; l < nlist; l++) sizes.push(u64(s, 8 * l));
  } else if (kind === 'sprs') {
    // Pairs of (list, size) for the non-empty lists.
    if (count % 2 !== 0 || count > 2 * nlist) fail('list sizes');
    const s = await bytes(listsAt + 32, 8 * count);
    let last = -1;
    for (let i = 0; i < count; i += 2) {
      const list = u64(s, 8 * i);
      if (list <= last || list >= nlist) fail('list numbers');
      last = list;
      sizes.push(u64(s, 8 * i + 8));
    }
  } else fail(`inverted list format "${kind}"`);
  const held = sizes.reduce((a, b) => a + b, 0);
  if (held !== ntotal) fail(`lists hold ${held} vectors, the index says ${ntotal}`);
  if (listsAt + 32 + 8 * count + held * (dimension * 4 + 8) !== length) fail('length');
}
