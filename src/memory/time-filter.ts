// Time bounds as a model writes them: an ISO 8601 time (2026-11-30, 2026-11-30T12:00:00Z) or a
// duration back from now (90m, 24h, 7d, 2w). Resolved once, to the ISO 8601 UTC form the stores
// keep their times in, so the bound is applied inside each channel's query.
import type { RecordFilter } from '../store/types.js';
import { invalid } from './validation.js';

export interface TimeBounds {
  created_after?: string | undefined;
  created_before?: string | undefined;
  updated_after?: string | undefined;
  updated_before?: string | undefined;
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
const DURATION = /^(\d{1,6})\s*([mhdw])$/;
const ISO = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

export function parseTime(value: string, field: string, now = Date.now()): string {
  const v = value.trim();
  const d = DURATION.exec(v);
  if (d) return new Date(now - Number(d[1]) * UNIT_MS[d[2]!]!).toISOString();
  const ms = ISO.test(v) ? Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v) : NaN;
  if (Number.isNaN(ms)) {
    throw invalid(
      `${field} must be an ISO 8601 time or a duration back from now (got ${JSON.stringify(value)})`,
      'e.g. "2026-11-30", "2026-11-30T12:00:00Z", or "90m", "24h", "7d", "2w"',
    );
  }
  return new Date(ms).toISOString();
}

/** The bounds as a store filter (after inclusive, before exclusive). */
export function timeFilter(bounds: TimeBounds, now = Date.now()): RecordFilter {
  const out: RecordFilter = {};
  if (bounds.created_after !== undefined) out.createdAfter = parseTime(bounds.created_after, 'created_after', now);
  if (bounds.created_before !== undefined) out.createdBefore = parseTime(bounds.created_before, 'created_before', now);
  if (bounds.updated_after !== undefined) out.updatedAfter = parseTime(bounds.updated_after, 'updated_after', now);
  if (bounds.updated_before !== undefined) out.updatedBefore = parseTime(bounds.updated_before, 'updated_before', now);
  return out;
}

/** Whether a record's times are within resolved bounds (the semantic channel filters in JS). */
export function withinTimes(r: { createdAt: string; updatedAt: string }, f: RecordFilter): boolean {
  return (
    (f.createdAfter === undefined || r.createdAt >= f.createdAfter) &&
    (f.createdBefore === undefined || r.createdAt < f.createdBefore) &&
    (f.updatedAfter === undefined || r.updatedAt >= f.updatedAfter) &&
    (f.updatedBefore === undefined || r.updatedAt < f.updatedBefore)
  );
}
