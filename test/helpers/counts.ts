// The SQLite store's counters beside a recount of every row, computed here independently of
// src/store/sqlite/sqlite-counts.ts: the two must be equal after any mix of writes and kills.
import Database from 'better-sqlite3';

export interface Counts {
  counters: string[];
  recount: string[];
}

export function countsOf(dbPath: string): Counts {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const line = (r: { namespace: string; status: string; fingerprint: string | null; n: number }) =>
      `${r.namespace}|${r.status}|${r.fingerprint ?? ''}|${r.n}`;
    const counters = (
      db.prepare('SELECT namespace, status, fingerprint, n FROM memory_counts WHERE n <> 0').all() as never[]
    ).map(line);
    const recount = (
      db
        .prepare(
          `SELECT namespace, embedding_status AS status,
             iif(embedding_status = 'done', embedding_fingerprint,
               iif(embedding_status = 'failed', attempt_fingerprint, NULL)) AS fingerprint, count(*) AS n
           FROM memories GROUP BY 1, 2, 3`,
        )
        .all() as never[]
    ).map(line);
    return { counters: counters.sort(), recount: recount.sort() };
  } finally {
    db.close();
  }
}
