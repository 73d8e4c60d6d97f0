// npm run bench [-- --sizes 10000,100000] [--index-sizes 100000,1000000] [--queries 300]
//                  [--backfill 10000,100000] [--search-index-sizes 10000,100000] [--peer 10000] [--word-vectors 10000] [--skip-glove] [--skip-ivf]
//                  [--import-sizes 1000000]
//                  [--smoke] [--json FILE]
//
// Each scenario is measured next to a reference on the same data in the same run, so the
// ratios mean something on a shared, noisy machine:
//   store:  memory_store batches of 100 through a real MCP client (in-process)
//           vs raw better-sqlite3 inserts + raw faiss-node add of the same vectors
//   search: memory_search through a real MCP client (in-process, then stdio), k = 10,
//           one at a time and 100 concurrent, vs raw faiss-node search of the same query vectors
//   cold start and resident memory of `node dist/cli.js` on the data just stored
//   index level (index-bench.ts): Flat and IVF, build, rebuild while serving, recall@10, on
//           clustered synthetic vectors and on the 341k GloVe-derived word vectors
//   peer (process-bench.ts): @modelcontextprotocol/server-memory driven by the same client
//   import (import-bench.ts): a bulk import with the index open, the IVF growth policy against the 25% drift rule
//   backfill (backfill.ts): SQLite and FalkorDB, vs embedding alone (and vs FalkorDB alone writing the vectors)
//   search index (process-bench.ts): MEMORY_SEARCH_INDEX=falkordb vs faiss on memories in FalkorDB
// Data is seeded; texts are embedded by the hash provider. --smoke runs every scenario at tiny
// sizes (CI runs it so the bench cannot rot).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
// Raw reference only (constructor and instance methods; see index-bench.ts on faiss-node and threads).
import { loadFaiss } from '../src/index/faiss/faiss-index.js';
import { HashEmbeddingProvider } from '../src/embeddings/hash-provider.js';
import { startHarness, testConfig } from '../test/helpers/harness.js';
import { benchBackfill } from './backfill.js';
import { BENCH_PROVIDER, answeredBy, makeTexts, now, record, rows, stats } from './common.js';
import { benchClustered, benchGlove } from './index-bench.js';
import { benchImport } from './import-bench.js';
import { benchPeer, benchSearchIndex, benchStdio, benchWordVectors } from './process-bench.js';
import { tempDir } from '../test/helpers/tmp.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000' },
    'index-sizes': { type: 'string', default: '100000' },
    queries: { type: 'string', default: '300' },
    json: { type: 'string' },
    backfill: { type: 'string', default: '10000,100000' },
    // MEMORY_SEARCH_INDEX=falkordb vs faiss, memories in FalkorDB.
    'search-index-sizes': { type: 'string', default: '10000,100000' },
    peer: { type: 'string', default: '10000' },
    'skip-glove': { type: 'boolean', default: false },
    'word-vectors': { type: 'string', default: '10000' },
    // The index bench's Flat rows only (the IVF build takes minutes at 1M).
    'skip-ivf': { type: 'boolean', default: false },
    // A bulk import with the index open, under two growth policies (minutes at 1M).
    'import-sizes': { type: 'string', default: '' },
    smoke: { type: 'boolean', default: false },
  },
});
const smoke = values.smoke;
const sizes = (smoke ? '1000' : values.sizes).split(',').filter(Boolean).map(Number);
const indexSizes = (smoke ? '3000' : values['index-sizes']).split(',').filter(Boolean).map(Number);
const queryCount = smoke ? 20 : Number(values.queries);
const peerCount = smoke ? 300 : Number(values.peer);
const backfillSizes = (smoke ? '300' : values.backfill).split(',').filter(Boolean).map(Number);
const glove = !smoke && !values['skip-glove'];
const searchIndexSizes = (smoke ? '300' : values['search-index-sizes']).split(',').filter(Boolean).map(Number);
const started = now();

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
    const raw = new (loadFaiss().IndexFlatIP)(embedder.dimension);
    for (let i = 0; i < size; i += 100) {
      const batch = texts.slice(i, i + 100);
      const vecs = await embedder.embed(batch);
      db.transaction(() => batch.forEach((t, j) => ins.run(`r${i + j}`, t, Buffer.from(vecs[j]!.buffer))))();
      raw.add(vecs.flatMap((v) => [...v]));
    }
    const refStoreMs = now() - refStart;
    db.close();

    // ---- ours: memory_store through MCP, batches of 100 ----
    const h = await startHarness(testConfig(join(dir.path, 'ours'), BENCH_PROVIDER, ['--index-persist-delay-ms', '0']));
    await h.app.service.ready();
    answeredBy(h.app.service.providerInfo().fingerprint ?? 'unknown');
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
    const timed = async (mode: 'semantic' | 'hybrid' | 'keyword') => {
      const ms: number[] = [];
      for (const q of queries) {
        const t = now();
        const r = await h.call('memory_search', { query: q, k: 10, mode });
        ms.push(now() - t);
        if (r.isError) throw new Error(JSON.stringify(r.content));
      }
      return stats(ms);
    };
    const o = await timed('semantic');
    const hybrid = await timed('hybrid');
    const keyword = await timed('keyword');
    const rr = stats(rawMs);
    const e = stats(embedMs);
    record({
      scenario: 'search via MCP, semantic mode, sequential, k=10',
      size,
      figure: 'p50 ms',
      ours: o.p50,
      reference: rr.p50,
      unit: 'ms',
    });
    record({
      scenario: 'search via MCP, semantic mode, sequential, k=10',
      size,
      figure: 'p95 ms',
      ours: o.p95,
      reference: rr.p95,
      unit: 'ms',
    });
    record({
      scenario: 'search via MCP, semantic mode, sequential, k=10',
      size,
      figure: 'p99 ms',
      ours: o.p99,
      reference: rr.p99,
      unit: 'ms',
    });
    record({
      scenario: 'search via MCP, hybrid (default) vs semantic only, k=10',
      size,
      figure: 'p50 ms',
      ours: hybrid.p50,
      reference: o.p50,
      refName: 'semantic only, same queries (target ratio <= 1.5)',
      unit: 'ms',
    });
    record({
      scenario: 'search via MCP, keyword only vs semantic only, k=10',
      size,
      figure: 'p50 ms',
      ours: keyword.p50,
      reference: o.p50,
      refName: 'semantic only, same queries',
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
    for (const mode of ['semantic', 'hybrid'] as const) {
      const rounds = 5;
      const concurrentStart = now();
      for (let r = 0; r < rounds; r++) {
        const replies = await Promise.all(
          queries.slice(0, 100).map((q) => h.call('memory_search', { query: `${q} ${r}`, k: 10, mode })),
        );
        if (replies.some((x) => x.isError)) throw new Error('a concurrent search failed');
      }
      record({
        scenario: `100 concurrent searches via MCP, ${mode} mode, k=10`,
        size,
        figure: 'searches/s',
        ours: (rounds * 100) / ((now() - concurrentStart) / 1000),
        reference: 1000 / rr.mean,
        unit: '/s',
      });
    }
    await h.close(); // writes the index snapshot: the data directory is what a restarted server finds
    await benchStdio(join(dir.path, 'ours'), size, queries, rr.p50, embedder.dimension);
  } finally {
    dir.cleanup();
  }
}

for (const size of sizes) await benchSize(size);
answeredBy('raw vectors (no provider)');
for (const size of indexSizes)
  await benchClustered(size, { queries: Math.min(queryCount, 200), rebuild: true, ivf: !values['skip-ivf'] });
if (glove) await benchGlove(200);
for (const size of (smoke ? '3000' : values['import-sizes']).split(',').filter(Boolean).map(Number))
  await benchImport(size, smoke ? 1000 : undefined);
const wordVectorCount = smoke ? 300 : Number(values['word-vectors']);
if (wordVectorCount > 0) await benchWordVectors(makeTexts(wordVectorCount, 5151), makeTexts(5, 5252));
for (const size of searchIndexSizes)
  await benchSearchIndex(makeTexts(size, 6161), makeTexts(Math.min(queryCount, 200), 6262));
if (peerCount > 0) await benchPeer(makeTexts(peerCount, 4242), makeTexts(Math.min(queryCount, 200), 4343));

for (const size of backfillSizes) {
  answeredBy(new HashEmbeddingProvider().fingerprint);
  for (const f of await benchBackfill(makeTexts(size, 99))) {
    record({
      scenario: `backfill, ${f.store}`,
      size: f.records,
      figure: 'records/s',
      ours: f.perSecond,
      reference: f.embedOnlyPerSecond,
      refName: 'hash-embedding the same texts alone',
      unit: '/s',
    });
    if (f.storeAlonePerSecond !== undefined) {
      record({
        scenario: `backfill, ${f.store}`,
        size: f.records,
        figure: 'records/s',
        ours: f.perSecond,
        reference: f.storeAlonePerSecond,
        refName: 'FalkorDB alone writing the same vectors under the vector index',
        unit: '/s',
      });
    }
  }
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const header = ['scenario', 'size', 'figure', 'ours', 'reference', 'ours/ref', 'reference is', 'ours answered by'];
const table = rows.map((r) => [
  r.scenario,
  String(r.size),
  r.figure,
  fmt(r.ours),
  fmt(r.reference),
  r.ratio.toFixed(2),
  r.refName ?? 'raw (see below)',
  r.answered,
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
process.stdout.write(
  [line(header), line(widths.map((w) => '-'.repeat(w))), ...table.map(line)].join('\n') +
    '\n\nraw references: store = raw better-sqlite3 insert + raw faiss-node add of the same vectors; ' +
    'search = raw faiss-node IndexFlatIP search of the same query vectors (for concurrent: one at a time); ' +
    'backfill: hash 384, batches of 256, 2 in flight.\n' +
    `total ${((now() - started) / 1000).toFixed(0)} s\n`,
);
if (values.json) writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), smoke, rows }, null, 2));
