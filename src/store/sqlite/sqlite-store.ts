// The embedded store: one SQLite database in WAL mode. Every write runs in an IMMEDIATE
// transaction that also takes the next change sequence number, so sequence order is commit
// order, across every process that opens the same file.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MemoryError } from '../../shared/errors.js';
import type {
  EmbeddingWrite,
  ChangeEvent,
  ChangePage,
  MemoryPatch,
  MemoryRecord,
  MemoryStore,
  MemoryWrite,
  StoreStats,
  StoredVector,
  EmbeddingFailure,
  BackfillScope,
  ListingCursor,
  ListingPage,
  EmbeddingCount,
  ListQuery,
  RecordFilter,
} from '../types.js';
import { contentHash } from '../content-hash.js';
import { embeddingColumns } from '../embedding-state.js';
import { statsFromCounts } from '../stats.js';
import { KEYWORD_SCHEMA, SqliteKeywordIndex } from './sqlite-keyword.js';
import { COUNTS_SCHEMA, COUNT_ROWS_SQL, embeddingCountsOf, type CountRow } from './sqlite-counts.js';
import { COLUMNS, blobToVector, toRecord, vectorToBlob, type Row } from './rows.js';
import { filterSql } from './filter-sql.js';
import { dupKey } from '../dup-key.js';

/** Ids per page when listing a whole model's embedded ids. */
const ID_PAGE = 10_000;
/** Memories needing an embedding up to which a backfill page finds them by status and sorts them (16 ms at 10k). */
const SORT_NEEDING_MAX = 10_000;

/** Schema migrations, applied in order; PRAGMA user_version records how many ran. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE sequence (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
   INSERT INTO sequence (id, value) VALUES (1, 0);
   CREATE TABLE memories (
     id TEXT PRIMARY KEY,
     namespace TEXT NOT NULL,
     text TEXT NOT NULL,
     content_hash TEXT NOT NULL,
     metadata TEXT NOT NULL,
     tags TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     seq INTEGER NOT NULL,
     embedding BLOB,
     embedding_fingerprint TEXT,
     embedding_status TEXT NOT NULL CHECK (embedding_status IN ('pending', 'done', 'failed')),
     embedding_attempts INTEGER NOT NULL DEFAULT 0,
     embedding_error TEXT,
     attempt_fingerprint TEXT
   ) STRICT;
   CREATE UNIQUE INDEX memories_seq ON memories (seq);
   CREATE INDEX memories_status ON memories (embedding_status, embedding_fingerprint);
   CREATE TABLE deletions (seq INTEGER PRIMARY KEY, id TEXT NOT NULL) STRICT;`,
  // A covering index for "ids embedded by model X": listing them no longer reads every row's
  // text and embedding. It serves every query the old one did.
  `CREATE INDEX memories_embedded ON memories (embedding_status, embedding_fingerprint, id);
   DROP INDEX memories_status;`,
  // The keyword index (sqlite-keyword.ts); rows written before it are added by fillStep.
  KEYWORD_SCHEMA,
  // Duplicate detection (store/dup-key.ts, computed by a function registered on the connection)
  // and keyset pagination in creation order.
  `ALTER TABLE memories ADD COLUMN dup_key TEXT;
   UPDATE memories SET dup_key = vmm_dup_key(text);
   CREATE INDEX memories_dup ON memories (namespace, dup_key);
   CREATE INDEX memories_created ON memories (created_at, id);`,
  // Counts kept by triggers (sqlite-counts.ts): status and health no longer scan every row.
  COUNTS_SCHEMA,
];

/** The schema version this code writes (PRAGMA user_version). */
export const SCHEMA_VERSION = MIGRATIONS.length;

export interface SqliteStoreOptions {
  /** Milliseconds a writer waits for another process's write lock. */
  busyTimeoutMs?: number;
}

export class SqliteStore implements MemoryStore {
  readonly kind = 'sqlite';
  readonly location: string;
  private db: Database.Database | undefined;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly busyTimeoutMs: number;
  readonly keyword = new SqliteKeywordIndex(
    () => this.conn,
    (sql) => this.q(sql),
  );

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.location = path;
    this.busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
  }

  async open(): Promise<void> {
    if (this.db) return;
    if (this.location !== ':memory:') mkdirSync(dirname(this.location), { recursive: true });
    const db = new Database(this.location);
    db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    enableWal(db, this.busyTimeoutMs);
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.function('vmm_dup_key', { deterministic: true }, (text: unknown) => dupKey(String(text)));
    migrate(db);
    this.db = db;
    this.keyword.heal();
  }

  async close(): Promise<void> {
    this.statements.clear();
    this.db?.close();
    this.db = undefined;
  }

  /** Prepared statements, by SQL text: preparing costs more than running a small query. */
  private q(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.conn.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  private get conn(): Database.Database {
    if (!this.db) throw new MemoryError('STORE_FAILED', 'the store is not open');
    return this.db;
  }

  /**
   * Runs a write. Another process holding the write lock longer than the busy timeout is a
   * timeout (nothing was changed), not a store failure.
   */
  private write<T>(run: () => T): T {
    try {
      return run();
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_BUSY') {
        throw new MemoryError('TIMEOUT', 'the database stayed locked by another process longer than the busy timeout', {
          cause: err,
          hint: 'nothing was changed; try again (MEMORY_DB_BUSY_TIMEOUT_MS sets the wait)',
        });
      }
      throw err;
    }
  }

  private nextSeq(): number {
    return this.takeSeqs(1);
  }

  /** Takes `n` sequence numbers at once (inside the write's transaction): the first of them. */
  private takeSeqs(n: number): number {
    const row = this.q('UPDATE sequence SET value = value + ? WHERE id = 1 RETURNING value').get(n) as {
      value: number;
    };
    return row.value - n + 1;
  }

  async upsert(writes: readonly MemoryWrite[]): Promise<MemoryRecord[]> {
    if (writes.length === 0) return [];
    const db = this.conn;
    const now = new Date().toISOString();
    const insert = this.q(
      `INSERT INTO memories (id, namespace, text, content_hash, dup_key, metadata, tags, created_at, updated_at, seq,
         embedding, embedding_fingerprint, embedding_status, embedding_attempts, embedding_error)
       VALUES (@id, @namespace, @text, @hash, @dup, @metadata, @tags, coalesce(@created, @now), coalesce(@updated, @now),
         @seq, @embedding, @fingerprint, @status, @attempts, @error)
       ON CONFLICT (id) DO UPDATE SET namespace = excluded.namespace, text = excluded.text, dup_key = excluded.dup_key,
         created_at = coalesce(@created, memories.created_at),
         content_hash = excluded.content_hash, metadata = excluded.metadata, tags = excluded.tags,
         updated_at = excluded.updated_at, seq = excluded.seq, embedding = excluded.embedding,
         embedding_fingerprint = excluded.embedding_fingerprint, embedding_status = excluded.embedding_status,
         embedding_attempts = excluded.embedding_attempts, embedding_error = excluded.embedding_error,
         attempt_fingerprint = NULL`,
    );
    const run = db.transaction((items: readonly MemoryWrite[]) => {
      let seq = this.takeSeqs(items.length);
      for (const w of items) {
        insert.run({
          id: w.id,
          namespace: w.namespace,
          text: w.text,
          hash: contentHash(w.text),
          dup: dupKey(w.text),
          metadata: JSON.stringify(w.metadata),
          tags: JSON.stringify(w.tags),
          now,
          created: w.times?.createdAt ?? null,
          updated: w.times?.updatedAt ?? null,
          seq: seq++,
          embedding: w.embedding ? vectorToBlob(w.embedding.vector) : null,
          ...embeddingColumns(w.embedding, w.embeddingError),
        });
      }
      return this.getSync(items.map((w) => w.id));
    });
    return this.write(() => run.immediate(writes));
  }

  async patch(id: string, patch: MemoryPatch): Promise<MemoryRecord | null> {
    const db = this.conn;
    const run = db.transaction(() => {
      const current = this.q('SELECT content_hash FROM memories WHERE id = ?').get(id) as
        { content_hash: string } | undefined;
      if (!current) return null;
      const sets: string[] = ['updated_at = @now', 'seq = @seq'];
      const params: Record<string, unknown> = { id, now: new Date().toISOString(), seq: this.nextSeq() };
      if (patch.text !== undefined) {
        const hash = contentHash(patch.text);
        sets.push('text = @text', 'content_hash = @hash', 'dup_key = @dup');
        params['text'] = patch.text;
        params['dup'] = dupKey(patch.text);
        params['hash'] = hash;
        if (hash !== current.content_hash && patch.embedding === undefined) {
          throw new Error('patch: a text change needs the new embedding (or null)');
        }
      }
      if (patch.metadata !== undefined) {
        sets.push('metadata = @metadata');
        params['metadata'] = JSON.stringify(patch.metadata);
      }
      if (patch.tags !== undefined) {
        sets.push('tags = @tags');
        params['tags'] = JSON.stringify(patch.tags);
      }
      if (patch.embedding !== undefined) {
        sets.push(
          'embedding = @embedding',
          'embedding_fingerprint = @fingerprint',
          'embedding_status = @status',
          'embedding_attempts = @attempts',
          'embedding_error = @error',
          'attempt_fingerprint = NULL',
        );
        Object.assign(params, {
          embedding: patch.embedding ? vectorToBlob(patch.embedding.vector) : null,
          ...embeddingColumns(patch.embedding, patch.embeddingError),
        });
      }
      this.q(`UPDATE memories SET ${sets.join(', ')} WHERE id = @id`).run(params);
      return this.getSync([id])[0] ?? null;
    });
    return this.write(() => run.immediate());
  }

  async get(ids: readonly string[]): Promise<MemoryRecord[]> {
    return this.getSync(ids);
  }

  private getSync(ids: readonly string[]): MemoryRecord[] {
    if (ids.length === 0) return [];
    const stmt = this.q(`SELECT ${COLUMNS} FROM memories WHERE id IN (SELECT value FROM json_each(?))`);
    const rows = stmt.all(JSON.stringify(ids)) as Row[];
    const byId = new Map(rows.map((r) => [r.id, toRecord(r)]));
    const out: MemoryRecord[] = [];
    for (const id of new Set(ids)) {
      const r = byId.get(id);
      if (r) out.push(r);
    }
    return out;
  }

  async delete(ids: readonly string[]): Promise<string[]> {
    const db = this.conn;
    const del = this.q('DELETE FROM memories WHERE id = ?');
    const log = this.q('INSERT INTO deletions (seq, id) VALUES (?, ?)');
    const run = db.transaction((list: readonly string[]) => {
      const deleted: string[] = [];
      for (const id of new Set(list)) {
        if (del.run(id).changes > 0) {
          log.run(this.nextSeq(), id);
          deleted.push(id);
        }
      }
      return deleted;
    });
    return this.write(() => run.immediate(ids));
  }

  async setEmbedding(id: string, hash: string, vector: StoredVector): Promise<boolean> {
    const [done] = await this.setEmbeddings([{ id, contentHash: hash, vector }]);
    return done === true;
  }

  /** One transaction for the whole batch. */
  async setEmbeddings(items: readonly EmbeddingWrite[]): Promise<boolean[]> {
    const db = this.conn;
    const run = db.transaction(() =>
      items.map(({ id, contentHash: hash, vector }) => {
        const row = this.q('SELECT content_hash FROM memories WHERE id = ?').get(id) as
          { content_hash: string } | undefined;
        if (!row || row.content_hash !== hash) return false;
        this.q(
          `UPDATE memories SET embedding = ?, embedding_fingerprint = ?, embedding_status = 'done',
             embedding_error = NULL, attempt_fingerprint = NULL, embedding_attempts = embedding_attempts + 1, seq = ?
           WHERE id = ?`,
        ).run(vectorToBlob(vector.vector), vector.fingerprint, this.nextSeq(), id);
        return true;
      }),
    );
    return this.write(() => run.immediate());
  }

  async recordEmbeddingFailure(id: string, hash: string, failure: EmbeddingFailure): Promise<void> {
    this.write(() =>
      this.q(
        `UPDATE memories SET embedding_attempts = embedding_attempts + 1, embedding_error = @error,
           embedding_status = CASE WHEN @permanent OR embedding_attempts + 1 >= @maxAttempts
             THEN 'failed' ELSE embedding_status END,
           attempt_fingerprint = @fingerprint
         WHERE id = @id AND content_hash = @hash`,
      ).run({
        error: failure.error,
        permanent: failure.permanent ? 1 : 0,
        maxAttempts: failure.maxAttempts,
        fingerprint: failure.fingerprint,
        id,
        hash,
      }),
    );
  }

  async listNeedingEmbedding(
    fingerprint: string,
    limit: number,
    scope: BackfillScope = {},
    cursor: ListingCursor = {},
  ): Promise<ListingPage> {
    const beforeSeq = cursor.seq;
    // How many need one, from the counters (kept per write): none, and nothing is read. Few: the
    // status index finds them all and sorts them, for every page (a run costs about needing² /
    // limit). Many: down the seq index from the cursor (the unary + keeps the planner off the
    // status index), reading each row below it once in a run (about all rows): sorting 100k
    // for each page took 80 ms a page, and a seq scan with none needing read every row of 1M
    // (39 s from a cold disk).
    const counts = await this.embeddingCounts(fingerprint);
    const needing = counts
      .filter((c) => scope.namespace === undefined || c.namespace === scope.namespace)
      .reduce((n, c) => n + c.pending, 0);
    if (needing === 0) return { records: [], walked: [] };
    const total = counts.reduce((n, c) => n + c.done + c.failed + c.pending, 0);
    const bySeq = needing > Math.max(SORT_NEEDING_MAX, Math.sqrt(limit * total));
    const status = bySeq ? '+embedding_status' : 'embedding_status';
    // (Two statements: with the bound in its own statement, the seq scan starts at it.)
    const rows = this.q(
      `SELECT ${COLUMNS} FROM memories
         WHERE (${status} = 'pending'
            OR (${status} = 'done' AND embedding_fingerprint IS NOT @fp)
            OR (${status} = 'failed' AND attempt_fingerprint IS NOT @fp))
           AND (@namespace IS NULL OR namespace = @namespace)${beforeSeq === undefined ? '' : ' AND seq < @before'}
         ORDER BY seq DESC LIMIT @limit`,
    ).all({
      fp: fingerprint,
      limit,
      namespace: scope.namespace ?? null,
      ...(beforeSeq === undefined ? {} : { before: beforeSeq }),
    }) as Row[];
    return { records: rows.map(toRecord), walked: [] };
  }

  async embeddingCounts(fingerprint: string): Promise<EmbeddingCount[]> {
    return embeddingCountsOf(this.q(COUNT_ROWS_SQL).all() as CountRow[], fingerprint);
  }

  async changesSince(afterSeq: number, limit: number): Promise<ChangePage> {
    const db = this.conn;
    const read = db.transaction((): ChangePage => {
      const head = (this.q('SELECT value FROM sequence WHERE id = 1').get() as { value: number }).value;
      const ups = this.q(`SELECT ${COLUMNS}, embedding FROM memories WHERE seq > ? ORDER BY seq LIMIT ?`).all(
        afterSeq,
        limit,
      ) as Row[];
      const dels = this.q('SELECT seq, id FROM deletions WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit) as {
        seq: number;
        id: string;
      }[];
      let toSeq = head;
      if (ups.length === limit) toSeq = Math.min(toSeq, ups[ups.length - 1]!.seq);
      if (dels.length === limit) toSeq = Math.min(toSeq, dels[dels.length - 1]!.seq);
      const events: ChangeEvent[] = [];
      for (const r of ups) {
        if (r.seq > toSeq) break;
        const vector =
          r.embedding && r.embedding_status === 'done' && r.embedding_fingerprint
            ? { vector: blobToVector(r.embedding), fingerprint: r.embedding_fingerprint }
            : null;
        events.push({ seq: r.seq, kind: 'upsert', record: toRecord(r), vector });
      }
      for (const d of dels) if (d.seq <= toSeq) events.push({ seq: d.seq, kind: 'delete', id: d.id });
      events.sort((a, b) => a.seq - b.seq);
      return { events, toSeq: Math.max(toSeq, afterSeq), more: toSeq < head };
    });
    return read();
  }

  async list(query: ListQuery): Promise<MemoryRecord[]> {
    const { where, params } = filterSql(query.filter);
    const newest = query.order === 'newest';
    if (query.after) {
      where.push(
        newest
          ? '(m.created_at, m.id) < (@afterCreated, @afterId)'
          : '(m.created_at, m.id) > (@afterCreated, @afterId)',
      );
      params['afterCreated'] = query.after.createdAt;
      params['afterId'] = query.after.id;
    }
    const dir = newest ? 'DESC' : 'ASC';
    const rows = this.q(
      `SELECT ${COLUMNS} FROM memories m ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY m.created_at ${dir}, m.id ${dir} LIMIT @limit`,
    ).all({ ...params, limit: query.limit }) as Row[];
    return rows.map(toRecord);
  }

  async countMatching(filter: RecordFilter): Promise<number> {
    const only = Object.entries(filter).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0));
    if (only.length === 0) return this.count();
    if (only.length === 1 && filter.namespace !== undefined) {
      return (
        this.q('SELECT coalesce(sum(n), 0) AS n FROM memory_counts WHERE namespace = ?').get(filter.namespace) as {
          n: number;
        }
      ).n;
    }
    const { where, params } = filterSql(filter);
    return (
      this.q(`SELECT count(*) AS n FROM memories m ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`).get(
        params,
      ) as { n: number }
    ).n;
  }

  async duplicatesOf(namespace: string, keys: readonly string[]): Promise<Map<string, string>> {
    if (keys.length === 0) return new Map();
    const rows = this.q(
      `SELECT dup_key, min(id) AS id FROM memories
         WHERE namespace = ? AND dup_key IN (SELECT value FROM json_each(?)) GROUP BY dup_key`,
    ).all(namespace, JSON.stringify(keys)) as { dup_key: string; id: string }[];
    return new Map(rows.map((r) => [r.dup_key, r.id]));
  }

  async embeddedIds(fingerprint: string): Promise<string[]> {
    // In pages of the covering index memories_embedded (in id order), yielding between them.
    // Callers that need a consistent set compare headSeq before and after (verify does).
    const page = this.q(
      `SELECT id FROM memories WHERE embedding_status = 'done' AND embedding_fingerprint = ? AND id > ?
       ORDER BY id LIMIT ${ID_PAGE}`,
    ).pluck();
    const out: string[] = [];
    let after = '';
    for (;;) {
      const ids = page.all(fingerprint, after) as string[];
      for (const id of ids) out.push(id);
      if (ids.length < ID_PAGE) return out;
      after = ids[ids.length - 1]!;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async vectorsOf(
    ids: readonly string[],
    fingerprint: string,
  ): Promise<{ id: string; contentHash: string; vector: Float32Array }[]> {
    if (ids.length === 0) return [];
    const rows = this.q(
      `SELECT id, content_hash, embedding FROM memories
         WHERE id IN (SELECT value FROM json_each(?)) AND embedding_status = 'done' AND embedding_fingerprint = ?`,
    ).all(JSON.stringify(ids), fingerprint) as { id: string; content_hash: string; embedding: Buffer }[];
    return rows.map((r) => ({ id: r.id, contentHash: r.content_hash, vector: blobToVector(r.embedding) }));
  }

  async headSeq(): Promise<number> {
    return (this.q('SELECT value FROM sequence WHERE id = 1').get() as { value: number }).value;
  }

  async count(): Promise<number> {
    return (this.q('SELECT coalesce(sum(n), 0) AS n FROM memory_counts').get() as { n: number }).n;
  }

  async stats(): Promise<StoreStats> {
    const rows = this.q('SELECT status, sum(n) AS n FROM memory_counts GROUP BY status').all() as {
      status: string;
      n: number;
    }[];
    return statsFromCounts(rows, await this.headSeq());
  }
}

/**
 * Applies pending migrations. Several processes may open a new database at once: each step
 * reads the version inside its own IMMEDIATE transaction, so a migration runs exactly once.
 */
function migrate(db: Database.Database): void {
  for (;;) {
    const applied = db
      .transaction(() => {
        const version = db.pragma('user_version', { simple: true }) as number;
        if (version > MIGRATIONS.length) {
          throw new MemoryError(
            'STORE_FAILED',
            `the database schema is version ${version}, newer than this server understands (${MIGRATIONS.length})`,
            { hint: 'upgrade vector-memory-mcp, or point MEMORY_DATA_DIR at another directory' },
          );
        }
        if (version === MIGRATIONS.length) return false;
        db.exec(MIGRATIONS[version]!);
        db.pragma(`user_version = ${version + 1}`);
        return true;
      })
      .immediate();
    if (!applied) return;
  }
}

/**
 * Switching to WAL needs a moment of exclusive access, and SQLite may answer SQLITE_BUSY at
 * once (without its busy handler) while another process opens the same new file: retry.
 */
function enableWal(db: Database.Database, waitMs: number): void {
  const deadline = Date.now() + Math.max(waitMs, 1000);
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}
