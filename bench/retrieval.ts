// npm run bench:retrieval [-- --synsets 2000]
//
// Retrieval quality of the offline providers on Princeton WordNet 3.0 (Debian: wordnet-base):
// the documents are the glosses of N noun synsets, each query is one synset's synonyms, and
// the right answer is that synset's gloss. Recall@1, recall@10 and MRR by exact search, plus
// embedding throughput, for `hash` and `word-vectors` side by side.
import { parseArgs } from 'node:util';
import { HashEmbeddingProvider } from '../src/embeddings/hash-provider.js';
import type { EmbeddingProvider } from '../src/embeddings/types.js';
import { WordVectorsProvider } from '../src/embeddings/word-vectors-provider.js';
import { tempDir } from '../test/helpers/tmp.js';
import { wordVectorsPackageDir } from '../test/helpers/word-vectors-package.js';
import { loadNounSynsets, sample } from '../test/helpers/wordnet.js';

const { values } = parseArgs({ options: { synsets: { type: 'string', default: '2000' } } });
const synsets = sample(loadNounSynsets(), Number(values.synsets));
const queries = synsets.map((s) => s.lemmas.join(', '));
const docs = synsets.map((s) => s.gloss);

async function measure(name: string, p: EmbeddingProvider) {
  await p.init();
  const t = performance.now();
  const d = await p.embed(docs);
  const q = await p.embed(queries);
  const perSecond = (docs.length + queries.length) / ((performance.now() - t) / 1000);
  let r1 = 0;
  let r10 = 0;
  let mrr = 0;
  for (let i = 0; i < q.length; i++) {
    const own = dot(q[i]!, d[i]!);
    let better = 0;
    for (let j = 0; j < d.length; j++) if (j !== i && dot(q[i]!, d[j]!) > own) better++;
    if (better === 0) r1++;
    if (better < 10) r10++;
    mrr += 1 / (better + 1);
  }
  const n = q.length;
  return { name, fingerprint: p.fingerprint, recall1: r1 / n, recall10: r10 / n, mrr: mrr / n, perSecond };
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

const cache = tempDir('vmm-bench-wv-');
try {
  const rows = [
    await measure('hash', new HashEmbeddingProvider()),
    await measure(
      'word-vectors',
      new WordVectorsProvider({ packageDir: wordVectorsPackageDir(), cacheDir: cache.path }),
    ),
  ];
  process.stdout.write(`WordNet 3.0 nouns: ${synsets.length} synsets; query = synonyms, document = gloss\n\n`);
  process.stdout.write('provider       recall@1  recall@10  MRR    texts/s\n');
  for (const r of rows) {
    process.stdout.write(
      `${r.name.padEnd(14)} ${r.recall1.toFixed(3).padStart(8)}  ${r.recall10.toFixed(3).padStart(9)}  ${r.mrr.toFixed(3)}  ${Math.round(r.perSecond).toString().padStart(7)}\n`,
    );
  }
} finally {
  cache.cleanup();
}
