import type { RecordFilter } from '../types.js';

/** The conditions of a filter on a memory node bound to `alias`, with their parameters. */
export function filterCypher(
  filter: RecordFilter,
  alias: string,
): { conditions: string[]; params: Record<string, unknown> } {
  const conditions: string[] = [];
  const params: Record<string, unknown> = {};
  if (filter.namespace !== undefined) {
    conditions.push(`${alias}.namespace = $namespace`);
    params['namespace'] = filter.namespace;
  }
  // One condition per tag: FalkorDB 4.16 evaluates all(t IN $tags ...) to false after a
  // procedure's YIELD ... WITH (a bug seen here), while $tag IN node.tags works.
  (filter.tags ?? []).forEach((tag, i) => {
    conditions.push(`$tag${i} IN ${alias}.tags`);
    params[`tag${i}`] = tag;
  });
  const bounds: [keyof RecordFilter, string][] = [
    ['createdAfter', `${alias}.created_at >= $createdAfter`],
    ['createdBefore', `${alias}.created_at < $createdBefore`],
    ['updatedAfter', `${alias}.updated_at >= $updatedAfter`],
    ['updatedBefore', `${alias}.updated_at < $updatedBefore`],
  ];
  for (const [key, condition] of bounds) {
    if (filter[key] === undefined) continue;
    conditions.push(condition);
    params[key] = filter[key];
  }
  return { conditions, params };
}
