// npm run bench:retrieval [-- --sets wordnet,identifiers,no-shared-word]
//
// Retrieval quality of what memory_search returns, through the memory service itself (real
// SQLite store with its keyword index, real FAISS index, real providers), for every provider x
// mode on three sets (bench/retrieval-sets.ts):
//   wordnet         query = a WordNet noun synset's synonyms, answer = its gloss (2,000)
//   identifiers     ticket codes, hostnames, rare surnames, versions, config keys inside ordinary
//                   sentences, with near-miss siblings, among 3,000 WordNet glosses
//   no-shared-word  WordNet pairs whose query and answer share no word (2,000)
// recall@1, recall@10 and MRR@10 (k = 10), then the targets, each met or not.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { limitsFromConfig } from '../src/config/limits.js';
import { HashEmbeddingProvider } from '../src/embeddings/hash-provider.js';
import type { EmbeddingProvider } from '../src/embeddings/types.js';
import { WordVectorsProvider } from '../src/embeddings/word-vectors-provider.js';
import { findSimilar } from '../src/memory/duplicates.js';
import { MemoryService, type SearchMode } from '../src/memory/memory-service.js';
import { silentLogger } from '../src/shared/logger.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { testConfig } from '../test/helpers/harness.js';
import { testIndexManager } from '../test/helpers/index-manager.js';
import { tempDir } from '../test/helpers/tmp.js';
import { wordVectorsPackageDir } from '../test/helpers/word-vectors-package.js';
import { allSets, type RetrievalSet } from './retrieval-sets.js';

const { values } = parseArgs({ options: { sets: { type: 'string' } } });
const K = 10;
const MODES: SearchMode[] = ['semantic', 'keyword', 'hybrid'];

interface Row {
  set: string;
  provider: string;
  mode: SearchMode;
  recall1: number;
  recall10: number;
  mrr: number;
  msPerQuery: number;
  /** Results returned per query (k = 10 unless the cut-off drops some). */
  resultsPerQuery: number;
  /** recall@10 with the cut-off switched off (padded to k). */
  recall10Uncut: number;
}

/** Near-duplicate detection at one threshold: shares of memories flagged. */
interface DuplicateRow {
  set: string;
  provider: string;
  threshold: number;
  /** Distinct memories of the set flagged as near-duplicates of another one (false alarms). */
  falseAlarms: number;
  /** Lightly edited copies (punctuation, case, a prefix, one word dropped) flagged as near the original. */
  editsFound: number;
}

const THRESHOLDS = [0.85, 0.9, 0.92, 0.95];

/** A copy of `text` with the kind of change a retry or a paraphrasing client makes. */
function lightEdit(text: string, i: number): string {
  switch (i % 4) {
    case 0:
      return `${text.replace(/[.;\s]*$/, '')}.`;
    case 1:
      return `Note: ${text.charAt(0).toUpperCase()}${text.slice(1)}`;
    case 2:
      return text.replace(/\s+\S+\s*$/, '');
    default:
      return `  ${text.toUpperCase()}!`;
  }
}

async function measure(set: RetrievalSet, providerName: string, embedder: EmbeddingProvider): Promise<Row[]> {
  const dir = tempDir('vmm-retrieval-');
  const store = new SqliteStore(join(dir.path, 'memories.db'));
  await store.open();
  const service = new MemoryService({
    store,
    embedder,
    limits: limitsFromConfig(testConfig(dir.path, { MEMORY_MAX_BATCH_ITEMS: '1000' })),
    logger: silentLogger,
    createIndex: (e) => testIndexManager(store, e.fingerprint, e.dimension, join(dir.path, 'index')),
  });
  try {
    for (let i = 0; i < set.docs.length; i += 1000) {
      await service.storeMemories(set.docs.slice(i, i + 1000).map((text, j) => ({ id: `d${i + j}`, text })));
    }
    await service.ready();
    const rows: Row[] = [];
    for (const mode of MODES) {
      let r1 = 0;
      let r10 = 0;
      let mrr = 0;
      let returned = 0;
      const started = performance.now();
      for (const q of set.queries) {
        const { hits } = await service.search({ query: q.text, k: K, mode });
        returned += hits.length;
        const rank = hits.findIndex((h) => h.record.id === `d${q.answer}`);
        if (rank === 0) r1++;
        if (rank >= 0) {
          r10++;
          mrr += 1 / (rank + 1);
        }
      }
      const elapsed = performance.now() - started;
      let uncut = 0;
      for (const q of set.queries) {
        const { hits } = await service.search({ query: q.text, k: K, mode, cut: false });
        if (hits.some((h) => h.record.id === `d${q.answer}`)) uncut++;
      }
      const n = set.queries.length;
      rows.push({
        set: set.name,
        provider: mode === 'keyword' ? 'none (BM25)' : providerName,
        mode,
        recall1: r1 / n,
        recall10: r10 / n,
        mrr: mrr / n,
        msPerQuery: elapsed / n,
        resultsPerQuery: returned / n,
        recall10Uncut: uncut / n,
      });
    }
    if (set.name === 'wordnet') duplicateRows.push(...(await duplicates(set, providerName, embedder, service, store)));
    return rows;
  } finally {
    await service.close();
    await store.close();
    dir.cleanup();
  }
}

const duplicateRows: DuplicateRow[] = [];

/** How often the near-duplicate rule (memory/duplicates.ts) fires on distinct memories and on edited copies. */
async function duplicates(
  set: RetrievalSet,
  providerName: string,
  embedder: EmbeddingProvider,
  service: MemoryService,
  store: SqliteStore,
): Promise<DuplicateRow[]> {
  const index = await service.ready();
  const lowest = Math.min(...THRESHOLDS);
  const probe = async (texts: string[]) => {
    const out: { id: string; score: number }[][] = [];
    for (let i = 0; i < texts.length; i += 500) {
      const chunk = texts.slice(i, i + 500);
      const vectors = await embedder.embed(chunk);
      out.push(
        ...(await findSimilar(
          index,
          store,
          chunk.map((text, j) => ({ text, namespace: 'default', vector: vectors[j]! })),
          lowest,
        )),
      );
    }
    return out;
  };
  const own = await probe(set.docs);
  const edited = await probe(set.docs.map((t, i) => lightEdit(t, i)));
  return THRESHOLDS.map((threshold) => ({
    set: set.name,
    provider: providerName,
    threshold,
    falseAlarms: own.filter((s, i) => s.some((x) => x.id !== `d${i}` && x.score >= threshold)).length / own.length,
    editsFound: edited.filter((s, i) => s.some((x) => x.id === `d${i}` && x.score >= threshold)).length / edited.length,
  }));
}

const wanted = values.sets?.split(',');
const { sets, noShared } = allSets();
const chosen = sets.filter((s) => !wanted || wanted.includes(s.name));
const cache = tempDir('vmm-bench-wv-');
const providers: [string, EmbeddingProvider][] = [
  ['hash', new HashEmbeddingProvider()],
  ['word-vectors', new WordVectorsProvider({ packageDir: wordVectorsPackageDir(), cacheDir: cache.path })],
];
const rows: Row[] = [];
try {
  for (const set of chosen) {
    for (const [name, provider] of providers) {
      await provider.init();
      const measured = await measure(set, name, provider);
      // Keyword results do not depend on the provider: reported once per set.
      rows.push(...measured.filter((r) => r.mode !== 'keyword' || name === 'hash'));
    }
  }
} finally {
  cache.cleanup();
}

const out = (line: string) => process.stdout.write(line + '\n');
out(`memory_search through the memory service, k = ${K}; exact (Flat) vector index; SQLite FTS5 keyword index`);
for (const s of chosen) out(`  ${s.name}: ${s.docs.length} memories, ${s.queries.length} queries`);
if (chosen.some((s) => s.name === 'no-shared-word')) {
  out(
    `  (no-shared-word: ${noShared.survivors} of ${noShared.total} WordNet noun synsets share no word with their gloss)`,
  );
}
out('');
out('set             mode      provider      recall@1  recall@10  MRR@10  ms/query  results/query  recall@10 uncut');
for (const r of rows) {
  out(
    `${r.set.padEnd(15)} ${r.mode.padEnd(9)} ${r.provider.padEnd(12)} ${r.recall1.toFixed(3).padStart(8)}  ${r.recall10.toFixed(3).padStart(9)}  ${r.mrr.toFixed(3).padStart(6)}  ${r.msPerQuery.toFixed(2).padStart(8)}  ${r.resultsPerQuery.toFixed(2).padStart(13)}  ${r.recall10Uncut.toFixed(3).padStart(15)}`,
  );
}
if (duplicateRows.length > 0) {
  out('');
  out('near-duplicate rule on the wordnet memories (cosine >= threshold, then the same codes and Jaccard >= 0.7)');
  out('provider      threshold  distinct memories flagged  light edits flagged');
  for (const d of duplicateRows) {
    out(
      `${d.provider.padEnd(13)} ${d.threshold.toFixed(2).padStart(9)}  ${(100 * d.falseAlarms).toFixed(2).padStart(24)}%  ${(100 * d.editsFound).toFixed(1).padStart(18)}%`,
    );
  }
}

const get = (set: string, mode: SearchMode, provider?: string) =>
  rows.find((r) => r.set === set && r.mode === mode && (provider === undefined || r.provider.startsWith(provider)));
const checks: [string, boolean | undefined, string][] = [];
const wn = { def: get('wordnet', 'hybrid', 'word-vectors'), old: get('wordnet', 'semantic', 'hash') };
if (wn.def && wn.old) {
  const ratio = wn.def.recall10 / wn.old.recall10;
  checks.push([
    'default (word-vectors, hybrid) >= 1.5x the old default (hash, semantic) on WordNet recall@10',
    ratio >= 1.5,
    `${ratio.toFixed(2)}x`,
  ]);
}
const id = get('identifiers', 'hybrid', 'word-vectors');
if (id)
  checks.push(['default finds >= 99% of identifier queries at rank 1', id.recall1 >= 0.99, id.recall1.toFixed(3)]);
for (const s of chosen) {
  const kw = get(s.name, 'keyword');
  for (const p of ['hash', 'word-vectors']) {
    const h = get(s.name, 'hybrid', p);
    const sem = get(s.name, 'semantic', p);
    if (h && sem && kw) {
      const best = Math.max(sem.recall10, kw.recall10);
      checks.push([
        `${s.name}: hybrid (${p}) >= the better single channel on recall@10`,
        h.recall10 >= best,
        `${h.recall10.toFixed(3)} vs ${best.toFixed(3)}`,
      ]);
    }
  }
  const hashSem = get(s.name, 'semantic', 'hash');
  if (kw && hashSem)
    checks.push([
      `${s.name}: keyword alone >= hash on recall@10`,
      kw.recall10 >= hashSem.recall10,
      `${kw.recall10.toFixed(3)} vs ${hashSem.recall10.toFixed(3)}`,
    ]);
}
const worstCut = Math.max(...rows.map((r) => r.recall10Uncut - r.recall10));
checks.push([
  'the far-below cut-off costs at most 0.005 recall@10 in every row',
  Math.round(worstCut * 10_000) <= 50, // in whole queries: 10 of 2,000 is 0.005
  `worst ${worstCut.toFixed(4)}`,
]);
out('');
for (const [what, ok, figure] of checks) out(`${ok ? 'met    ' : 'NOT MET'}  ${what}: ${figure}`);
