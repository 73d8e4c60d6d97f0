import type { StoreStats } from './types.js';

/** StoreStats from per-status counts, as both stores' queries return them. */
export function statsFromCounts(rows: readonly { status: string; n: number }[], headSeq: number): StoreStats {
  const count = (s: string) => rows.find((r) => r.status === s)?.n ?? 0;
  return {
    total: rows.reduce((a, r) => a + r.n, 0),
    pending: count('pending'),
    done: count('done'),
    failed: count('failed'),
    headSeq,
  };
}
