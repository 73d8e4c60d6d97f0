// npm run bench [-- --sizes 10000,100000] [--queries 300] [--backfill 10000] [--json FILE]
//
// Each scenario is measured next to a reference on the same data in the same run, so the
// ratios mean something on a shared, noisy machine:
//   store:  memory_store batches of 100 through a real MCP client (in-process)
//           vs raw better-sqlite3 inserts + raw faiss-node add of the same vectors
//   search: memory_search through a real MCP client, one at a time, k = 10
//           vs raw faiss-node search of the same query vectors
// Data is seeded and synthetic: texts drawn from a fixed vocabulary, embedded by the hash provider.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import faissNode from 'faiss-node';
import { HashEmbeddingProvider } from '../src/embeddings/hash-provider.js';
import { startHarness, testConfig } from '../test/helpers/harness.js';
import { benchBackfill } from './backfill.js';
import { tempDir } from '../test/helpers/tmp.js';
import { rng } from '../test/helpers/vectors.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000' },
    queries: { type: 'string', default: '300' },
    json: { type: 'string' },
    backfill: { type: 'string', default: '10000' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const queryCount = Number(values.queries);

const VOCAB = (() => {
  const next = rng(7);
  const syll = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'vo', 'shi', 'pe', 'dra', 'en', 'ol', 'ix', 'um'];
  return Array.from({ length: 3000 }, () => {
    const n = 2 + Math.floor(next() * 3);
    return Array.from({ length: n }, () => syll[Math.floor(next() * syll.length)]).join('');
  });
})();

function makeTexts(n: number, seed: number): string[] {
  const next = rng(seed);
  return Array.from({ length: n }, () => {
    const len = 8 + Math.floor(next() * 16);
    // Zipf-like word choice: a few words are common, most are rare.
    return Array.from({ length: len }, () => VOCAB[Math.floor(VOCAB.length * next() ** 3)]).join(' ');
  });
}

interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}
function stats(ms: number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { n: s.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}
const now = () => performance.now();

interface Row {
  scenario: string;
  size: number;
  figure: string;
  ours: number;
  reference: number;
  unit: string;
  ratio: number;
}
const rows: Row[] = [];
const record = (r: Omit<Row, 'ratio'>) => rows.push({ ...r, ratio: r.ours / r.reference });

async function benchSize(size: number): Promise<void> {
  const texts = makeTexts(size, size);
  const queries = makeTexts(queryCount, size + 1);
  const embedder = new HashEmbeddingProvider();
  const dir = tempDir('vmm-bench-');
  try {
    // ---- reference: raw SQLite inserts + raw faiss add, batches of 100 ----
    const refStart = now();
    const db = new Database(join(dir.path, 'raw.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE m (id TEXT PRIMARY KEY, text TEXT, embedding BLOB)');
    const ins = db.prepare('INSERT INTO m VALUES (?, ?, ?)');
    const raw = new faissNode.IndexFlatIP(embedder.dimension);
    for (let i = 0; i < size; i += 100) {
      const batch = texts.slice(i, i + 100);
      const vecs = await embedder.embed(batch);
      db.transaction(() => batch.forEach((t, j) => ins.run(`r${i + j}`, t, Buffer.from(vecs[j]!.buffer))))();
      raw.add(vecs.flatMap((v) => [...v]));
    }
    const refStoreMs = now() - refStart;
    db.close();

    // ---- ours: memory_store through MCP, batches of 100 ----
    const h = await startHarness(testConfig(join(dir.path, 'ours'), {}, ['--index-persist-delay-ms', '0']));
    await h.app.service.ready();
    const storeStart = now();
    for (let i = 0; i < size; i += 100) {
      const r = await h.call('memory_store', { items: texts.slice(i, i + 100).map((text) => ({ text })) });
      if (r.isError) throw new Error(JSON.stringify(r.content));
    }
    const storeMs = now() - storeStart;
    record({
      scenario: 'store (batches of 100)',
      size,
      figure: 'memories/s',
      ours: size / (storeMs / 1000),
      reference: size / (refStoreMs / 1000),
      unit: '/s',
    });

    // ---- search: raw faiss vs MCP, sequential, k = 10 ----
    const qv = await embedder.embed(queries);
    const rawMs: number[] = [];
    for (const q of qv) {
      const t = now();
      raw.search([...q], 10);
      rawMs.push(now() - t);
    }
    const embedMs: number[] = [];
    for (const q of queries) {
      const t = now();
      await embedder.embed([q]);
      embedMs.push(now() - t);
    }
    const oursMs: number[] = [];
    for (const q of queries) {
      const t = now();
      const r = await h.call('memory_search', { query: q, k: 10 });
      oursMs.push(now() - t);
      if (r.isError) throw new Error(JSON.stringify(r.content));
    }
    const o = stats(oursMs);
    const rr = stats(rawMs);
    const e = stats(embedMs);
    record({
      scenario: 'search via MCP, sequential, k=10',
      size,
      figure: 'p50 ms',
      ours: o.p50,
      reference: rr.p50,
      unit: 'ms',
    });
    record({
      scenario: 'search via MCP, sequential, k=10',
      size,
      figure: 'p95 ms',
      ours: o.p95,
      reference: rr.p95,
      unit: 'ms',
    });
    record({
      scenario: 'search via MCP, sequential, k=10',
      size,
      figure: 'p99 ms',
      ours: o.p99,
      reference: rr.p99,
      unit: 'ms',
    });
    record({
      scenario: 'query embedding (hash), in the above',
      size,
      figure: 'p50 ms',
      ours: e.p50,
      reference: rr.p50,
      unit: 'ms',
    });
    process.stderr.write(
      `size ${size}: added at p50 ${(o.p50 - rr.p50).toFixed(3)} ms over raw faiss (embedding ${e.p50.toFixed(3)} ms)\n`,
    );
    // 100 concurrent searches (micro-batched into few FAISS calls) vs one-at-a-time raw faiss-node.
    const rounds = 5;
    const concurrentStart = now();
    for (let r = 0; r < rounds; r++) {
      const replies = await Promise.all(
        queries.slice(0, 100).map((q) => h.call('memory_search', { query: `${q} ${r}`, k: 10 })),
      );
      if (replies.some((x) => x.isError)) throw new Error('a concurrent search failed');
    }
    const concurrentPerSecond = (rounds * 100) / ((now() - concurrentStart) / 1000);
    record({
      scenario: '100 concurrent searches via MCP, k=10',
      size,
      figure: 'searches/s',
      ours: concurrentPerSecond,
      reference: 1000 / rr.mean,
      unit: '/s',
    });
    await h.close();
  } finally {
    dir.cleanup();
  }
}

for (const size of sizes) await benchSize(size);

const backfillCount = Number(values.backfill);
if (backfillCount > 0) {
  for (const f of await benchBackfill(makeTexts(backfillCount, 99))) {
    record({
      scenario: `backfill, ${f.store}`,
      size: f.records,
      figure: 'records/s',
      ours: f.perSecond,
      reference: f.embedOnlyPerSecond,
      unit: '/s',
    });
  }
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const header = ['scenario', 'size', 'figure', 'ours', 'reference', 'ours/ref'];
const table = rows.map((r) => [
  r.scenario,
  String(r.size),
  r.figure,
  fmt(r.ours),
  fmt(r.reference),
  r.ratio.toFixed(2),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
process.stdout.write(
  [line(header), line(widths.map((w) => '-'.repeat(w))), ...table.map(line)].join('\n') +
    '\n\nreferences: store = raw better-sqlite3 insert + raw faiss-node add of the same vectors; ' +
    'search = raw faiss-node IndexFlatIP search of the same query vectors (for concurrent: one at a time); ' +
    'backfill = hash-embedding the same texts alone (no store).\n',
);
if (values.json) writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
