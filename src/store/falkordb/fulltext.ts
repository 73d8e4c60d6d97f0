// The keyword index of the FalkorDB store: FalkorDB's full-text index (RediSearch) on a folded
// copy of each memory's text (`text_folded`: NFKC, Unicode lower-case, diacritics removed),
// written in the same query as the text. The copy is needed because RediSearch lower-cases ASCII
// only and does not fold diacritics (Köln would not find KÖLN, cafe not café).
//
// Ranking is computed here, not by FalkorDB: its score falls as a document matches *more* of an
// OR query's terms, which ranks the best matches last. So each term is looked up on its own (one
// round trip for all of them) and the matches are ranked by BM25 over the term lists. Query
// terms are cut into RediSearch's own tokens (letters, digits, _), so no query syntax survives:
// a term of several tokens (JIRA-4512) is an exact phrase "jira 4512".
//
// Nodes written by other tools are reached by the semantic channel only. The fill also gives
// nodes written before these properties existed their duplicate key (store/dup-key.ts).
import type { KeywordTerms } from '../keyword-query.js';
import type { KeywordHit, KeywordIndex, KeywordIndexState, RecordFilter } from '../types.js';
import type { FalkorConnection } from './connection.js';
import { q } from './cypher.js';
import { filterCypher } from './filter-cypher.js';
import { dupKey } from '../dup-key.js';

export const FOLDED = 'text_folded';
const TOKEN = /[\p{L}\p{N}_]+/gu;
const K1 = 1.2;
const B = 0.75;

/** What the full-text index holds for a text. */
export function fold(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .normalize('NFC');
}

/** A term as a RediSearch query: one token, or the exact phrase of its tokens. */
function termQuery(term: string): string | null {
  const tokens = fold(term).match(TOKEN) ?? [];
  if (tokens.length === 0) return null;
  return tokens.length === 1 ? tokens[0]! : `"${tokens.join(' ')}"`;
}

export class FalkorKeywordIndex implements KeywordIndex {
  /** Set once a fill found no memory without its folded text (every write sets it). */
  private complete = false;

  constructor(
    private readonly db: FalkorConnection,
    private readonly graph: string,
    private readonly label: string,
  ) {}

  private get L(): string {
    return q(this.label);
  }

  /** Creates the full-text index (every connection; "already indexed" is fine). */
  static schema(label: string): string {
    return `CALL db.idx.fulltext.createNodeIndex({label: '${label}', stopwords: []}, '${FOLDED}')`;
  }

  async search(terms: KeywordTerms, limit: number, filter: RecordFilter): Promise<KeywordHit[]> {
    const queries = [...new Set(terms.terms.map(termQuery).filter((t): t is string => t !== null))];
    if (queries.length === 0) return [];
    const { where, params } = this.where(filter);
    const rows = await this.db.run<{ q: string; id: string; text: string | null }>(
      this.graph,
      `UNWIND $queries AS q CALL db.idx.fulltext.queryNodes('${this.label}', q) YIELD node
       WITH q, node ${where} RETURN q, node.memory_id AS id, node.${FOLDED} AS text`,
      { ...params, queries },
      'read',
    );
    if (rows.length === 0) return [];
    // Document frequencies over the whole collection, not the filtered part.
    const [counts, total] = await Promise.all([
      this.db.run<{ q: string; n: number }>(
        this.graph,
        `UNWIND $queries AS q CALL db.idx.fulltext.queryNodes('${this.label}', q) YIELD node RETURN q, count(node) AS n`,
        { queries },
        'read',
      ),
      this.db.run<{ n: number }>(this.graph, `MATCH (m:${this.L}) RETURN count(m) AS n`, {}, 'read'),
    ]);
    const df = new Map(counts.map((c) => [c.q, c.n]));
    const n = Math.max(1, total[0]?.n ?? 1);
    const length = new Map<string, number>();
    for (const r of rows) if (!length.has(r.id)) length.set(r.id, (r.text ?? '').match(TOKEN)?.length ?? 1);
    const avg = [...length.values()].reduce((a, b) => a + b, 0) / Math.max(1, length.size);
    const score = new Map<string, number>();
    for (const r of rows) {
      const d = df.get(r.q) ?? 1;
      const idf = Math.log(1 + (n - d + 0.5) / (d + 0.5));
      const norm = (K1 + 1) / (1 + K1 * (1 - B + (B * length.get(r.id)!) / avg));
      score.set(r.id, (score.get(r.id) ?? 0) + idf * norm);
    }
    return [...score]
      .map(([id, s]) => ({ id, score: s }))
      .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
      .slice(0, limit);
  }

  async matchAll(identifiers: readonly string[], limit: number, filter: RecordFilter): Promise<KeywordHit[]> {
    const phrases = identifiers.map(termQuery).filter((t): t is string => t !== null);
    if (phrases.length === 0) return [];
    const { where, params } = this.where(filter);
    const rows = await this.db.run<{ id: string; score: number }>(
      this.graph,
      `CALL db.idx.fulltext.queryNodes('${this.label}', $query) YIELD node, score
       WITH node, score ${where} RETURN node.memory_id AS id, score ORDER BY score DESC LIMIT $limit`,
      { ...params, query: phrases.join(' '), limit },
      'read',
    );
    return rows;
  }

  private where(filter: RecordFilter): { where: string; params: Record<string, unknown> } {
    const { conditions, params } = filterCypher(filter, 'node');
    return { where: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '', params };
  }

  async fillStep(max: number): Promise<boolean> {
    const rows = await this.db.run<{ id: string; text: string }>(
      this.graph,
      `MATCH (m:${this.L}) WHERE m.${FOLDED} IS NULL OR m.dup_key IS NULL RETURN m.memory_id AS id, m.text AS text LIMIT $max`,
      { max },
      'read',
    );
    if (rows.length > 0) {
      await this.db.run(
        this.graph,
        `UNWIND $rows AS r MATCH (m:${this.L} {memory_id: r.id}) WHERE m.text = r.text
         SET m.${FOLDED} = r.folded, m.dup_key = r.dup`,
        { rows: rows.map((r) => ({ id: r.id, text: r.text, folded: fold(r.text), dup: dupKey(r.text) })) },
      );
    }
    this.complete = rows.length < max;
    return !this.complete;
  }

  async building(): Promise<boolean> {
    return !this.complete;
  }

  async state(): Promise<KeywordIndexState> {
    const [row] = await this.db.run<{ total: number; indexed: number }>(
      this.graph,
      `MATCH (m:${this.L}) RETURN count(m) AS total, sum(CASE WHEN m.${FOLDED} IS NULL THEN 0 ELSE 1 END) AS indexed`,
      {},
      'read',
    );
    const total = row?.total ?? 0;
    const indexed = row?.indexed ?? 0;
    return { indexed, total, building: indexed < total };
  }

  async verify(sample: number): Promise<{ missing: number; extra: number; missingSample: string[] }> {
    const rows = await this.db.run<{ id: string }>(
      this.graph,
      `MATCH (m:${this.L}) WHERE m.${FOLDED} IS NULL RETURN m.memory_id AS id`,
      {},
      'read',
    );
    return { missing: rows.length, extra: 0, missingSample: rows.slice(0, sample).map((r) => r.id) };
  }

  async reset(): Promise<void> {
    // The index follows the property: removing it drops the entry; fillStep writes it again.
    await this.db.run(this.graph, `MATCH (m:${this.L}) REMOVE m.${FOLDED}`);
    this.complete = false;
  }
}
