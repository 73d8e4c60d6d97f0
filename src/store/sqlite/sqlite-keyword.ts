// The keyword index of the SQLite store: an FTS5 table kept by triggers in the same transaction
// as every write to `memories`. Contentless (the text lives once, in `memories`) with
// contentless_delete, so a trigger can delete a row by rowid without the old text. Tokenizer:
// porter over unicode61 with diacritics folded, and no extra token characters: JIRA-4512 is the
// tokens jira + 4512, which a quoted phrase matches as adjacent, so the ticket, its number and
// hopper-7 inside hopper-7.corp.example.com are all findable; a sentence-final hostname is not
// glued to its full stop; porter stemming lets "allergic to nuts" meet "nut allergy". Measured on
// the retrieval bench's sets against unicode61, tokenchars '-_.' and trigram (README).
//
// Databases from before the keyword index get it by a migration that creates the table and its
// triggers at once (new writes are indexed from then on) and leaves the older rows to fillStep,
// which the server runs in the background in small transactions: the handshake never waits.
import type Database from 'better-sqlite3';
import { fts5Phrase, type KeywordTerms } from '../keyword-query.js';
import type { KeywordHit, KeywordIndex, KeywordIndexState, RecordFilter } from '../types.js';
import { filterSql } from './filter-sql.js';

/** Creates the FTS table, its triggers and the fill marker (run by the migration, and on open if the table was dropped). */
export const KEYWORD_SCHEMA = `
  CREATE VIRTUAL TABLE memories_fts USING fts5(
    text, content = '', contentless_delete = 1, tokenize = 'porter unicode61 remove_diacritics 2');
  CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, text) VALUES (new.rowid, new.text);
  END;
  CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    DELETE FROM memories_fts WHERE rowid = old.rowid;
  END;
  CREATE TRIGGER memories_fts_update AFTER UPDATE OF text ON memories WHEN old.text IS NOT new.text BEGIN
    DELETE FROM memories_fts WHERE rowid = old.rowid;
    INSERT INTO memories_fts (rowid, text) VALUES (new.rowid, new.text);
  END;
  CREATE TABLE IF NOT EXISTS keyword_fill (id INTEGER PRIMARY KEY CHECK (id = 1), next_rowid INTEGER NOT NULL) STRICT;
  INSERT OR REPLACE INTO keyword_fill (id, next_rowid) SELECT 1, 0 WHERE EXISTS (SELECT 1 FROM memories);`;

/** Removes the keyword index (heal recreates it; tests use it to make a database of the schema before it). */
export const DROP_KEYWORD_SCHEMA = `
  DROP TRIGGER IF EXISTS memories_fts_insert; DROP TRIGGER IF EXISTS memories_fts_delete;
  DROP TRIGGER IF EXISTS memories_fts_update; DROP TABLE IF EXISTS memories_fts; DROP TABLE IF EXISTS keyword_fill;`;

/** A term in this share of the memories (and at least COMMON_MIN of them) is too common to rank by. */
const COMMON_SHARE = 0.05;
const COMMON_MIN = 1000;
const COUNT_TTL_MS = 5000;
/** Terms whose match count (up to the cut-off) is remembered; cleared whole when full. */
const TERM_COUNTS_MAX = 20_000;

export class SqliteKeywordIndex implements KeywordIndex {
  private counted: { at: number; n: number } | undefined;
  /** Each term's matches counted up to `cut`, remembered as long as the total above (a cut-off, not a score). */
  private termCounts = new Map<string, number>();
  private termCountsCut = 0;

  constructor(
    private readonly db: () => Database.Database,
    private readonly q: (sql: string) => Database.Statement,
  ) {}

  /** Recreates the keyword index when its table or a trigger is missing (dropped by hand); true when it did. */
  heal(): boolean {
    const objects = this.db()
      .prepare(
        `SELECT count(*) AS n FROM sqlite_master WHERE name IN
           ('memories_fts', 'memories_fts_insert', 'memories_fts_delete', 'memories_fts_update')`,
      )
      .get() as { n: number };
    if (objects.n === 4) return false;
    this.db()
      .transaction(() => this.db().exec(DROP_KEYWORD_SCHEMA + KEYWORD_SCHEMA))
      .immediate();
    return true;
  }

  async search(terms: KeywordTerms, limit: number, filter: RecordFilter): Promise<KeywordHit[]> {
    if (terms.terms.length === 0) return [];
    return this.run(this.rareTerms(terms.terms).map(fts5Phrase).join(' OR '), limit, filter);
  }

  /**
   * The terms worth ranking by. An OR query costs as much as the matches of all its terms
   * together, and a term in a large share of the memories adds little to BM25 (its idf is small)
   * while it multiplies that cost. Such terms are dropped when a rarer one is left; counting a
   * term's matches stops at the cut-off, and the counts are kept as long as the total is (a few
   * seconds), so the check itself stays cheap.
   */
  private rareTerms(terms: readonly string[]): string[] {
    if (terms.length < 2) return [...terms];
    const cut = Math.max(COMMON_MIN, Math.ceil(COMMON_SHARE * this.total()));
    if (cut !== this.termCountsCut || this.termCounts.size > TERM_COUNTS_MAX) {
      this.termCounts.clear();
      this.termCountsCut = cut;
    }
    const counted = this.q(
      'SELECT count(*) AS n FROM (SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? LIMIT ?)',
    );
    const countOf = (t: string): number => {
      let n = this.termCounts.get(t);
      if (n === undefined) {
        n = (counted.get(fts5Phrase(t), cut) as { n: number }).n;
        this.termCounts.set(t, n);
      }
      return n;
    };
    const rare = terms.filter((t) => countOf(t) < cut);
    return rare.length > 0 ? rare : [...terms];
  }

  /**
   * Memories in the store, re-counted at most every few seconds (only the cut-off above needs it);
   * the remembered term counts go with each re-count.
   */
  private total(): number {
    const now = Date.now();
    if (!this.counted || now - this.counted.at > COUNT_TTL_MS) {
      this.counted = { at: now, n: (this.q('SELECT count(*) AS n FROM memories').get() as { n: number }).n };
      this.termCounts.clear();
    }
    return this.counted.n;
  }

  async matchAll(identifiers: readonly string[], limit: number, filter: RecordFilter): Promise<KeywordHit[]> {
    if (identifiers.length === 0) return [];
    return this.run(identifiers.map(fts5Phrase).join(' AND '), limit, filter);
  }

  private run(match: string, limit: number, filter: RecordFilter): KeywordHit[] {
    const { where, params } = filterSql(filter);
    if (where.length === 0) {
      // No filter: FTS5 ranks and cuts by itself; only the best `limit` rows are joined.
      return this.q(
        `SELECT m.id AS id, -f.rank AS score
           FROM (SELECT rowid, rank FROM memories_fts WHERE memories_fts MATCH @match ORDER BY rank LIMIT @limit) f
           JOIN memories m ON m.rowid = f.rowid ORDER BY f.rank`,
      ).all({ match, limit }) as KeywordHit[];
    }
    // Filters inside the query, before the limit: a filter never hides a match.
    return this.q(
      `SELECT m.id AS id, -bm25(memories_fts) AS score FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid
         WHERE memories_fts MATCH @match AND ${where.join(' AND ')}
         ORDER BY bm25(memories_fts) LIMIT @limit`,
    ).all({ ...params, match, limit }) as KeywordHit[];
  }

  async fillStep(max: number): Promise<boolean> {
    const db = this.db();
    return db
      .transaction(() => {
        const state = this.q('SELECT next_rowid FROM keyword_fill WHERE id = 1').get() as
          { next_rowid: number } | undefined;
        if (!state) return false;
        const from = state.next_rowid;
        const to = from + max;
        // Rows written since the index exists are indexed by the triggers already: skipped here.
        this.q(
          `INSERT INTO memories_fts (rowid, text)
             SELECT rowid, text FROM memories WHERE rowid >= @from AND rowid < @to
               AND rowid NOT IN (SELECT rowid FROM memories_fts WHERE rowid >= @from AND rowid < @to)`,
        ).run({ from, to });
        const last = (this.q('SELECT max(rowid) AS r FROM memories').get() as { r: number | null }).r ?? 0;
        if (to > last) {
          this.q('DELETE FROM keyword_fill WHERE id = 1').run();
          return false;
        }
        this.q('UPDATE keyword_fill SET next_rowid = ? WHERE id = 1').run(to);
        return true;
      })
      .immediate();
  }

  async state(): Promise<KeywordIndexState> {
    return {
      indexed: (this.q('SELECT count(*) AS n FROM memories_fts').get() as { n: number }).n,
      total: (this.q('SELECT count(*) AS n FROM memories').get() as { n: number }).n,
      building: await this.building(),
    };
  }

  async building(): Promise<boolean> {
    return this.q('SELECT 1 FROM keyword_fill WHERE id = 1').get() !== undefined;
  }

  async verify(sample: number): Promise<{ missing: number; extra: number; missingSample: string[] }> {
    const missing = (
      this.q('SELECT count(*) AS n FROM memories WHERE rowid NOT IN (SELECT rowid FROM memories_fts)').get() as {
        n: number;
      }
    ).n;
    const extra = (
      this.q('SELECT count(*) AS n FROM memories_fts WHERE rowid NOT IN (SELECT rowid FROM memories)').get() as {
        n: number;
      }
    ).n;
    const missingSample =
      missing === 0
        ? []
        : (this.q('SELECT id FROM memories WHERE rowid NOT IN (SELECT rowid FROM memories_fts) LIMIT ?')
            .pluck()
            .all(sample) as string[]);
    return { missing, extra, missingSample };
  }

  async reset(): Promise<void> {
    this.db()
      .transaction(() => {
        this.q(`INSERT INTO memories_fts (memories_fts) VALUES ('delete-all')`).run();
        this.q(
          'INSERT OR REPLACE INTO keyword_fill (id, next_rowid) SELECT 1, 0 WHERE EXISTS (SELECT 1 FROM memories)',
        ).run();
      })
      .immediate();
  }
}
