// Shared by the bench scenarios: the result table, percentiles, seeded data.
import { rng } from '../test/helpers/vectors.js';

export interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

export function stats(ms: number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { n: s.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

export const now = (): number => performance.now();

export interface Row {
  scenario: string;
  size: number;
  figure: string;
  ours: number;
  reference: number;
  /** What the reference is, when not the scenario's usual one. */
  refName?: string;
  unit: string;
  ratio: number;
  /** The embedding model that answered ours (fingerprint), or what ours was when no provider is involved. */
  answered: string;
}

/** Every scenario pins this provider; what actually answered is recorded per row. */
export const BENCH_PROVIDER = { EMBEDDING_PROVIDER: 'hash' } as const;
let answering = 'raw vectors (no provider)';
/** Sets what answered the rows recorded next (read from the server, not assumed). */
export const answeredBy = (what: string): void => {
  answering = what;
};

export const rows: Row[] = [];
export const record = (r: Omit<Row, 'ratio' | 'answered'>): void => {
  rows.push({ ...r, ratio: r.ours / r.reference, answered: answering });
};

/** Progress on stderr (stdout carries the table). */
export const note = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};

const VOCAB = (() => {
  const next = rng(7);
  const syll = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'vo', 'shi', 'pe', 'dra', 'en', 'ol', 'ix', 'um'];
  return Array.from({ length: 3000 }, () => {
    const n = 2 + Math.floor(next() * 3);
    return Array.from({ length: n }, () => syll[Math.floor(next() * syll.length)]).join('');
  });
})();

export function makeTexts(n: number, seed: number): string[] {
  const next = rng(seed);
  return Array.from({ length: n }, () => {
    const len = 8 + Math.floor(next() * 16);
    // Zipf-like word choice: a few words are common, most are rare.
    return Array.from({ length: len }, () => VOCAB[Math.floor(VOCAB.length * next() ** 3)]).join(' ');
  });
}

/**
 * Clustered unit vectors: `clusters` random centres, each vector a centre plus Gaussian noise,
 * normalized. Row-major in one Float32Array.
 */
export function clusteredVectors(n: number, dim: number, seed: number, clusters = 1000, noise = 0.6): Float32Array {
  const next = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
  const centres = new Float32Array(clusters * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = gauss() / Math.sqrt(dim);
  const out = new Float32Array(n * dim);
  const sigma = noise / Math.sqrt(dim);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(next() * clusters) * dim;
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const x = centres[c + j]! + sigma * gauss();
      out[i * dim + j] = x;
      norm += x * x;
    }
    norm = Math.sqrt(norm);
    for (let j = 0; j < dim; j++) out[i * dim + j] = out[i * dim + j]! / norm;
  }
  return out;
}

/** The longest the event loop went without a turn while `work` ran (a 1 ms timer chain). */
export async function maxLoopStall<T>(work: () => Promise<T>): Promise<{ result: T; maxStallMs: number }> {
  let last = now();
  let max = 0;
  let running = true;
  const tick = () => {
    const t = now();
    max = Math.max(max, t - last);
    last = t;
    if (running) setTimeout(tick, 1);
  };
  setTimeout(tick, 1);
  try {
    const result = await work();
    return { result, maxStallMs: max };
  } finally {
    running = false;
  }
}
