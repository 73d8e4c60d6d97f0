import type { RecordFilter } from '../types.js';

/** The conditions of a filter on the memories table (alias `m`), with their parameters. */
export function filterSql(filter: RecordFilter): { where: string[]; params: Record<string, unknown> } {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter.namespace !== undefined) {
    where.push('m.namespace = @namespace');
    params['namespace'] = filter.namespace;
  }
  (filter.tags ?? []).forEach((tag, i) => {
    where.push(`EXISTS (SELECT 1 FROM json_each(m.tags) WHERE value = @tag${i})`);
    params[`tag${i}`] = tag;
  });
  const bounds: [keyof RecordFilter, string][] = [
    ['createdAfter', 'm.created_at >= @createdAfter'],
    ['createdBefore', 'm.created_at < @createdBefore'],
    ['updatedAfter', 'm.updated_at >= @updatedAfter'],
    ['updatedBefore', 'm.updated_at < @updatedBefore'],
  ];
  for (const [key, condition] of bounds) {
    if (filter[key] === undefined) continue;
    where.push(condition);
    params[key] = filter[key];
  }
  return { where, params };
}
