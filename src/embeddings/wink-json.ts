// Reads the word-vector package's one JSON file (307 MB: a word list, then an object of
// 341,479 arrays of 102 numbers) straight from its bytes. JSON.parse needs the whole file as a
// string and an object per word: about 4.5 s and 1.3 GB here; this scanner reads the numbers
// in place into one Float32Array in about a quarter of that. The result is exactly what
// JSON.parse gives (test/word-vectors-cache.test.ts compares them on the real package):
// - a number of at most 15 significant digits and no exponent is its digits as an integer
//   divided by a power of ten, both exact in a double, so the one rounding is IEEE's correct one
//   (JSON.parse's); anything else goes through Number() on its text;
// - a key that repeats keeps its last vector, as JSON.parse does;
// - the words kept are those of the word list that have a vector, in the list's order.

export interface WinkVectors {
  dimension: number;
  words: string[];
  /** Row r is the vector of words[r]. */
  matrix: Float32Array;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** Where the package's JSON keeps what: its dimension, its word list, and the first vector's key. */
export interface WinkLayout {
  dimension: number;
  wordList: string[];
  /** The byte of the first key of "vectors" (or of its closing brace). */
  vectorsAt: number;
}

/** A run of consecutive keys of "vectors" and their rows, as scanned from `from`. */
export interface WinkPart {
  keys: string[];
  /** Row r (r < keys.length) is the vector of keys[r]. */
  rows: Float32Array;
  /** Where the scan stopped: the first key at or past its stop, or the closing brace. */
  end: number;
}

export function parseWinkJson(buffer: Buffer): WinkVectors {
  const layout = winkLayout(buffer);
  const { words, blocks } = assembleWink(layout, [scanVectors(buffer, layout.vectorsAt, layout.dimension)]);
  return { dimension: layout.dimension, words, matrix: blocks[0] ?? new Float32Array(0) };
}

export function winkLayout(buffer: Buffer): WinkLayout {
  const wordsStart = indexAfter(buffer, '"words":[') - 1;
  const before = buffer.subarray(0, wordsStart - '"words":'.length).toString('utf8');
  const header = JSON.parse(before.replace(/,\s*$/, '') + '}') as {
    dimensions?: unknown;
    size?: unknown;
  };
  const dim = header.dimensions;
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1)
    throw new Error('no "dimensions" before the word list');
  const vectorsAt = indexAfter(buffer, '],"vectors":{', wordsStart);
  const wordList = JSON.parse(
    buffer.subarray(wordsStart, vectorsAt - '"vectors":{'.length - 1).toString('utf8'),
  ) as unknown;
  if (!Array.isArray(wordList) || !wordList.every((w) => typeof w === 'string'))
    throw new Error('"words" is not a list of strings');
  return { dimension: dim, wordList: wordList as string[], vectorsAt };
}

/**
 * A byte at or after `at` that may start a key of "vectors" (just after the next `],"`), where
 * another thread can start scanning; -1 when there is none. Only a candidate: a key may itself
 * hold `],"`. The scan before it proves it (its `end` lands exactly there, as a scan's ends are
 * real key starts); otherwise that scan goes on instead.
 */
export function keyStartAfter(buffer: Buffer, at: number): number {
  const i = buffer.indexOf('],"', at, 'latin1');
  return i < 0 ? -1 : i + 2;
}

/** Scans keys and their vectors from `from` (a key start) until a key at or past `stopAt`, or the closing brace. */
export function scanVectors(
  buffer: Buffer,
  from: number,
  dim: number,
  stopAt = Infinity,
  sizeHint = 1024,
  allocate: (floats: number) => Float32Array = (n) => new Float32Array(n),
): WinkPart {
  const file = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
  const keys: string[] = [];
  let rows = allocate((sizeHint + 16) * dim);
  let at = from;
  while (at < stopAt) {
    if (file[at] === CLOSE_BRACE) break;
    if (file[at] !== QUOTE) throw syntax(at, 'a key');
    let end = at + 1;
    let escaped = false;
    while (file[end] !== QUOTE) {
      if (file[end] === BACKSLASH) {
        escaped = true;
        end++;
      }
      end++;
      if (end >= file.length) throw syntax(at, 'the end of a key');
    }
    const key = escaped
      ? (JSON.parse(buffer.subarray(at, end + 1).toString('utf8')) as string)
      : buffer.toString('utf8', at + 1, end);
    at = end + 1;
    if (file[at] !== 0x3a || file[at + 1] !== 0x5b) throw syntax(at, '":["');
    at += 2;
    if ((keys.length + 1) * dim > rows.length) {
      const grown = allocate(rows.length * 2);
      grown.set(rows);
      rows = grown;
    }
    at = readRow(buffer, file, at, rows, keys.length * dim, dim, key);
    keys.push(key);
    at++; // the closing bracket
    if (file[at] === COMMA) at++;
  }
  return { keys, rows, end: at };
}

/**
 * The words of the list that have a vector, in the list's order, and their rows: `parts` are
 * consecutive scans in file order, so a key that repeats keeps its last vector, as JSON.parse does.
 * When the parts' rows are already those of the words in order (the package's file), `blocks`
 * are the parts' own rows; otherwise one matrix of `allocate`'s.
 */
export function assembleWink(
  layout: WinkLayout,
  parts: WinkPart[],
  allocate: (floats: number) => Float32Array = (n) => new Float32Array(n),
): { words: string[]; blocks: Float32Array[] } {
  const dim = layout.dimension;
  // Rows are numbered across the parts, in file order.
  const firstRow: number[] = [];
  const rowOf = new Map<string, number>();
  let rows = 0;
  for (const p of parts) {
    firstRow.push(rows);
    for (const key of p.keys) rowOf.set(key, rows++);
  }
  const words = layout.wordList.filter((w) => w.length > 0 && !w.includes('\n') && rowOf.has(w));
  if (words.every((w, r) => rowOf.get(w) === r)) {
    let left = words.length;
    const blocks = parts.map((p) => {
      const n = Math.min(left, p.keys.length);
      left -= n;
      return p.rows.subarray(0, n * dim);
    });
    return { words, blocks: blocks.filter((b) => b.length > 0) };
  }
  const matrix = allocate(words.length * dim);
  // Copied in runs of consecutive rows of one part.
  const copy = (from: number, to: number, at: number) => {
    let part = 0;
    while (part + 1 < parts.length && from >= firstRow[part + 1]!) part++;
    const base = firstRow[part]!;
    matrix.set(parts[part]!.rows.subarray((from - base) * dim, (to - base) * dim), at * dim);
  };
  let runFrom = 0;
  let runAt = 0;
  let next = -1;
  words.forEach((w, r) => {
    const g = rowOf.get(w)!;
    if (g !== next || firstRow.includes(g)) {
      if (r > runAt) copy(runFrom, next, runAt);
      runFrom = g;
      runAt = r;
    }
    next = g + 1;
  });
  if (words.length > runAt) copy(runFrom, next, runAt);
  return { words, blocks: [matrix] };
}

/**
 * The numbers of one vector, from `at` into rows[base...]; returns where its "]" is. A function
 * of its own, so that V8 optimizes this loop (the scan's hot path) by itself.
 */
function readRow(
  buffer: Buffer,
  file: Uint8Array,
  at: number,
  rows: Float32Array,
  base: number,
  dim: number,
  key: string,
): number {
  let i = 0;
  for (;;) {
    // One number: [-]digits[.digits], else handed to Number().
    const start = at;
    let negative = false;
    if (file[at] === MINUS) {
      negative = true;
      at++;
    }
    let mantissa = 0;
    let digits = 0;
    let scale = 0;
    let c = file[at]!;
    while (c >= ZERO && c <= NINE) {
      mantissa = mantissa * 10 + (c - ZERO);
      digits++;
      c = file[++at]!;
    }
    if (c === DOT) {
      c = file[++at]!;
      while (c >= ZERO && c <= NINE) {
        mantissa = mantissa * 10 + (c - ZERO);
        digits++;
        scale++;
        c = file[++at]!;
      }
    }
    let value: number;
    if (c !== COMMA && c !== CLOSE_BRACKET) {
      while (file[at] !== COMMA && file[at] !== CLOSE_BRACKET && at < file.length) at++;
      value = Number(buffer.toString('latin1', start, at));
      if (!Number.isFinite(value)) throw syntax(start, 'a number');
    } else if (digits === 0) {
      throw syntax(start, 'a number');
    } else if (digits > 15) {
      value = Number(buffer.toString('latin1', start, at));
    } else {
      value = negative ? -mantissa / POW10[scale]! : mantissa / POW10[scale]!;
    }
    if (i < dim) rows[base + i] = value;
    i++;
    if (file[at] === CLOSE_BRACKET) break;
    at++; // the comma
  }
  if (i < dim) throw syntax(at, `${dim} numbers for "${key}"`);
  return at;
}

function indexAfter(file: Buffer, marker: string, from = 0): number {
  const i = file.indexOf(marker, from, 'latin1');
  if (i < 0) throw new Error(`not the word-vector package's file: no ${marker}`);
  return i + marker.length;
}

function syntax(at: number, expected: string): Error {
  return new Error(`the word-vector file is not as expected at byte ${at}: wanted ${expected}`);
}
