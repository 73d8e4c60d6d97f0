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

export function parseWinkJson(buffer: Buffer): WinkVectors {
  const file = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
  const wordsStart = indexAfter(buffer, '"words":[') - 1;
  const before = buffer.subarray(0, wordsStart - '"words":'.length).toString('utf8');
  const header = JSON.parse(before.replace(/,\s*$/, '') + '}') as {
    dimensions?: unknown;
    size?: unknown;
  };
  const dim = header.dimensions;
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1)
    throw new Error('no "dimensions" before the word list');
  const vectorsKey = indexAfter(buffer, '],"vectors":{', wordsStart);
  const wordList = JSON.parse(
    buffer.subarray(wordsStart, vectorsKey - '"vectors":{'.length - 1).toString('utf8'),
  ) as unknown;
  if (!Array.isArray(wordList) || !wordList.every((w) => typeof w === 'string'))
    throw new Error('"words" is not a list of strings');

  // Every key's vector, in file order; `rowOf` keeps the last row of a repeated key.
  const rowOf = new Map<string, number>();
  let rows = new Float32Array((wordList.length + 16) * dim);
  let count = 0;
  let at = vectorsKey;
  for (;;) {
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
    if ((count + 1) * dim > rows.length) {
      const grown = new Float32Array(rows.length * 2);
      grown.set(rows);
      rows = grown;
    }
    at = readRow(buffer, file, at, rows, count * dim, dim, key);
    rowOf.set(key, count);
    count++;
    at++; // the closing bracket
    if (file[at] === COMMA) at++;
  }

  const words = (wordList as string[]).filter((w) => w.length > 0 && !w.includes('\n') && rowOf.has(w));
  // The package lists its vectors in the word list's order: then the rows are already in place.
  if (words.every((w, r) => rowOf.get(w) === r))
    return { dimension: dim, words, matrix: rows.subarray(0, words.length * dim) };
  const matrix = new Float32Array(words.length * dim);
  words.forEach((w, r) => {
    const from = rowOf.get(w)! * dim;
    matrix.set(rows.subarray(from, from + dim), r * dim);
  });
  return { dimension: dim, words, matrix };
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
