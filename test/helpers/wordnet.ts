// Query/document pairs from Princeton WordNet 3.0 (Debian package wordnet-base): for a noun
// synset, the query is its synonyms ("laying waste, ruin, ruination") and the document its
// gloss ("destruction achieved by causing something to be wrecked or ruined"). The two
// describe one meaning in mostly different words, and nobody here picked them.
import { existsSync, readFileSync } from 'node:fs';

export const WORDNET_NOUNS = '/usr/share/wordnet/data.noun';

export interface Synset {
  offset: string;
  lemmas: string[];
  gloss: string;
}

export function loadNounSynsets(path = WORDNET_NOUNS): Synset[] {
  if (!existsSync(path)) {
    throw new Error(`WordNet is missing at ${path}: apt-get install wordnet-base (Debian) provides it`);
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
