// memory_list: every memory within a filter, page by page in creation order. Keyset pagination
// (the page starts just past the last memory of the previous one, by creation time then id), so
// every memory that existed when paging began appears exactly once while others are written or
// deleted. The cursor carries that position, the time bounds as resolved on the first page (so a
// "7d" does not move between pages) and a digest of the arguments it was made for: a cursor used
// with other arguments, truncated or edited is refused.
import { createHash } from 'node:crypto';
import type { JsonValue, MemoryRecord, MemoryStore, RecordFilter } from '../store/types.js';
import { filterOf } from './search-flow.js';
import { timeFilter, type TimeBounds } from './time-filter.js';
import { invalid } from './validation.js';

export interface ListParams {
  namespace?: string | undefined;
  tags?: string[] | undefined;
  filter?: Record<string, JsonValue> | undefined;
  time?: TimeBounds | undefined;
  order?: 'newest' | 'oldest' | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface ListOutcome {
  memories: MemoryRecord[];
  nextCursor: string | null;
  total: number;
}

interface Cursor {
  v: 1;
  /** Digest of the arguments (but the cursor). */
  a: string;
  times: RecordFilter;
  c: string;
  i: string;
}

/** Rows read per store query while metadata equality (applied here) skips some. */
const SCAN = 500;

export async function listMemories(store: MemoryStore, params: ListParams, maxLimit: number): Promise<ListOutcome> {
  const limit = params.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) {
    throw invalid(`limit must be a whole number from 1 to ${maxLimit} (got ${limit})`, 'page with next_cursor instead');
  }
  const order = params.order ?? 'newest';
  const digest = argumentsDigest(params, order);
  const cursor = params.cursor !== undefined ? decodeCursor(params.cursor, digest) : undefined;
  const times = cursor?.times ?? timeFilter(params.time ?? {});
  const filter: RecordFilter = { namespace: params.namespace, tags: params.tags, ...times };
  const metadata = Object.keys(params.filter ?? {}).length > 0;
  const accept = filterOf({ query: '', filter: params.filter }).test;

  const memories: MemoryRecord[] = [];
  let after = cursor ? { createdAt: cursor.c, id: cursor.i } : undefined;
  let more = false;
  scan: for (;;) {
    // One accepted row beyond the page tells whether another page exists.
    const want = metadata ? SCAN : limit - memories.length + 1;
    const rows = await store.list({ filter, order, after, limit: want });
    for (const r of rows) {
      after = { createdAt: r.createdAt, id: r.id };
      if (!accept(r)) continue;
      if (memories.length === limit) {
        more = true;
        break scan;
      }
      memories.push(r);
    }
    if (rows.length < want) break;
  }
  const last = memories[memories.length - 1];
  return {
    memories,
    nextCursor: more && last ? encodeCursor({ v: 1, a: digest, times, c: last.createdAt, i: last.id }) : null,
    total: metadata ? await countWithMetadata(store, filter, accept) : await store.countMatching(filter),
  };
}

/** Metadata equality is applied here, so its total is a count of a scan. */
async function countWithMetadata(
  store: MemoryStore,
  filter: RecordFilter,
  accept: (r: MemoryRecord) => boolean,
): Promise<number> {
  let n = 0;
  let after: { createdAt: string; id: string } | undefined;
  for (;;) {
    const rows = await store.list({ filter, order: 'oldest', after, limit: SCAN });
    n += rows.filter(accept).length;
    if (rows.length < SCAN) return n;
    const end = rows[rows.length - 1]!;
    after = { createdAt: end.createdAt, id: end.id };
  }
}

function argumentsDigest(params: ListParams, order: string): string {
  const { cursor: _cursor, limit: _limit, ...rest } = params;
  const canonical = JSON.stringify({ ...rest, order, tags: rest.tags ? [...rest.tags].sort() : undefined });
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 16);
}

const CHECK = 'vector-memory-mcp list cursor';

function encodeCursor(c: Cursor): string {
  const body = Buffer.from(JSON.stringify(c)).toString('base64url');
  return `${body}.${checksum(body)}`;
}

function decodeCursor(text: string, digest: string): Cursor {
  const [body, sum, extra] = text.split('.');
  let c: Cursor | undefined;
  if (body && sum && extra === undefined && checksum(body) === sum) {
    try {
      c = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Cursor;
    } catch {
      c = undefined;
    }
  }
  if (!c || c.v !== 1 || typeof c.c !== 'string' || typeof c.i !== 'string') {
    throw invalid('cursor is not one this server made (damaged or edited)', 'start again without cursor');
  }
  if (c.a !== digest) {
    throw invalid(
      'cursor was made for other arguments (namespace, tags, filter, times or order)',
      'pass the same arguments as on the first page, or start again without cursor',
    );
  }
  return c;
}

function checksum(body: string): string {
  return createHash('sha256').update(CHECK).update(body).digest('base64url').slice(0, 12);
}
