// What the keyword channel makes of a user's text, independent of the engine that runs it.
// A query is split on whitespace into chunks (edge punctuation stripped, lower-cased,
// deduplicated); a chunk that holds several word tokens (JIRA-4512, hopper-7.corp.example.com,
// v2.14.3) is kept as a phrase and also contributes its tokens, so "status of API-9491" ranks
// the ticket first and "4512" alone still finds it. Stopwords are dropped unless nothing else
// is left. Identifier-like chunks (a digit, an inner - _ . : / @, an inner capital, or a
// capitalised word that is not a stopword, for names) must all match for a memory to be
// promoted to the top of a hybrid result: the vector channel cannot tell JIRA-4512 from
// JIRA-4513 (word vectors have no digits at all), the keyword channel can.

/** Function words only: a memory server's queries are short, and these match half of everything. */
export const STOPWORDS = new Set(
  (
    'a an and are as at be but by for from has have he her his i if in into is it its of on or our she so ' +
    'than that the their them then there these they this to was we were what when where which who whom why ' +
    'will with would you your do does did not no any about'
  ).split(' '),
);

const MAX_CHUNKS = 64;
const WORD = /[\p{L}\p{N}]+/gu;

function chunksOf(text: string): string[] {
  return text
    .normalize('NFKC')
    .split(/\s+/u)
    .map((c) => c.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, ''))
    .filter((c) => c.length > 0);
}

export interface KeywordTerms {
  /** Chunks and the word tokens of multi-token chunks, lower-cased, stopwords dropped (unless all are). */
  terms: string[];
  /** The word tokens of each term (a single-word term is one token). */
  tokens: string[][];
  /** Identifier-like chunks, lower-cased: a memory holding all of them is promoted. */
  identifiers: string[];
}

export function keywordTerms(text: string): KeywordTerms {
  const chunks = chunksOf(text);
  let terms = chunks.flatMap((c) => {
    const words = c.match(WORD) ?? [];
    return words.length > 1 ? [c, ...words] : [c];
  });
  const kept = terms.filter((t) => !STOPWORDS.has(t.toLowerCase()));
  if (kept.length > 0) terms = kept;
  terms = [...new Set(terms.map((t) => t.toLowerCase()))].slice(0, MAX_CHUNKS);
  const identifiers = [
    ...new Set(
      chunks
        .filter(
          (c) =>
            /\p{N}/u.test(c) ||
            /[\p{L}\p{N}][-_.:/@][\p{L}\p{N}]/u.test(c) ||
            /\p{Ll}\p{Lu}/u.test(c) ||
            (/^\p{Lu}/u.test(c) && !STOPWORDS.has(c.toLowerCase())),
        )
        .map((c) => c.toLowerCase()),
    ),
  ].slice(0, MAX_CHUNKS);
  return { terms, tokens: terms.map((t) => t.match(WORD) ?? []), identifiers };
}

/** An FTS5 phrase: the text between double quotes, inner quotes doubled, so no FTS5 syntax survives. */
export function fts5Phrase(term: string): string {
  return `"${term.replace(/"/g, '""')}"`;
}
