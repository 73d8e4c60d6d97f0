// The files of export and import: JSON lines, one memory per line, as this server writes them
// (id, namespace, text, tags, metadata, created_at, updated_at, and with vectors the vector and
// its model's fingerprint), or the knowledge-graph file of @modelcontextprotocol/server-memory
// (entities with observations, relations), turned into memories. Reading is strict: the first
// line that does not parse or break a rule stops the import, named by its number.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { MemoryError } from '../shared/errors.js';
import type { Metadata, MemoryRecord, StoredVector } from '../store/types.js';
import { DEFAULT_NAMESPACE } from './validation.js';

export type ImportSource = 'vector-memory' | 'server-memory';

/** One memory to import, with the line it came from. */
export interface ImportRecord {
  line: number;
  id: string;
  namespace: string;
  text: string;
  tags: string[];
  metadata: Metadata;
  /** Absent when the file has no times (server-memory): kept as they are, or now for a new memory. */
  times?: { createdAt: string; updatedAt: string };
  vector?: StoredVector;
}

const Json: z.ZodType<unknown> = z.unknown();
const Time = z.string().refine((t) => !Number.isNaN(Date.parse(t)), 'must be an ISO 8601 time');

const MemoryLine = z.strictObject({
  id: z.string(),
  namespace: z.string().optional(),
  text: z.string(),
  tags: z.array(z.string()).optional(),
  metadata: z.record(z.string(), Json).optional(),
  created_at: Time,
  updated_at: Time,
  embedding: z.strictObject({ model: z.string(), vector: z.array(z.number()) }).optional(),
});
export type MemoryLine = z.infer<typeof MemoryLine>;

const EntityLine = z.object({
  type: z.literal('entity'),
  name: z.string().min(1),
  entityType: z.string(),
  observations: z.array(z.string()),
});
const RelationLine = z.object({
  type: z.literal('relation'),
  from: z.string().min(1),
  to: z.string().min(1),
  relationType: z.string().min(1),
});
const GraphLine = z.discriminatedUnion('type', [EntityLine, RelationLine]);

/** An export line for a memory (vector: its stored one, when exported with vectors). */
export function memoryLine(r: MemoryRecord, vector?: StoredVector): string {
  const line: MemoryLine = {
    id: r.id,
    namespace: r.namespace,
    text: r.text,
    tags: r.tags,
    metadata: r.metadata,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    ...(vector ? { embedding: { model: vector.fingerprint, vector: Array.from(vector.vector) } } : {}),
  };
  return JSON.stringify(line);
}

export function lineError(line: number, message: string): MemoryError {
  return new MemoryError('INVALID_INPUT', `line ${line}: ${message}`, {
    hint: 'fix or remove that line; nothing from this file was imported',
  });
}

/**
 * The memories of line number `n` of a file (none for a blank line). `namespace` replaces the
 * line's own namespace (server-memory has none: default otherwise).
 */
export function parseImportLine(
  raw: string,
  n: number,
  from: ImportSource,
  namespace: string | undefined,
): ImportRecord[] {
  if (raw.trim() === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw lineError(n, `not JSON (${(err as Error).message})`);
  }
  return from === 'vector-memory'
    ? [fromMemoryLine(value, n, namespace)]
    : fromGraphLine(value, n, namespace ?? DEFAULT_NAMESPACE);
}

function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || 'line'}: ${i.message}`)
    .join('; ');
}

function fromMemoryLine(value: unknown, line: number, namespace: string | undefined): ImportRecord {
  const parsed = MemoryLine.safeParse(value);
  if (!parsed.success) {
    const hint =
      value !== null && typeof value === 'object' && 'type' in value
        ? ' (a server-memory file? use --from server-memory)'
        : '';
    throw lineError(line, `not a memory: ${issues(parsed.error)}${hint}`);
  }
  const m = parsed.data;
  return {
    line,
    id: m.id,
    namespace: namespace ?? m.namespace ?? DEFAULT_NAMESPACE,
    text: m.text,
    tags: m.tags ?? [],
    metadata: (m.metadata ?? {}) as Metadata,
    times: { createdAt: new Date(m.created_at).toISOString(), updatedAt: new Date(m.updated_at).toISOString() },
    ...(m.embedding
      ? { vector: { fingerprint: m.embedding.model, vector: Float32Array.from(m.embedding.vector) } }
      : {}),
  };
}

/** A stable id, so importing the same graph again finds the same memories. */
function graphId(...parts: string[]): string {
  return `server-memory-${createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 22)}`;
}

function fromGraphLine(value: unknown, line: number, namespace: string): ImportRecord[] {
  const parsed = GraphLine.safeParse(value);
  if (!parsed.success) throw lineError(line, `not a server-memory entity or relation: ${issues(parsed.error)}`);
  const g = parsed.data;
  const source = 'server-memory';
  if (g.type === 'relation') {
    return [
      {
        line,
        id: graphId('relation', g.from, g.relationType, g.to),
        namespace,
        text: `${g.from} ${g.relationType} ${g.to}`,
        tags: ['relation'],
        metadata: { source, from: g.from, to: g.to, relation_type: g.relationType },
      },
    ];
  }
  const tags = g.entityType.trim() !== '' ? [g.entityType] : [];
  const metadata: Metadata = { source, entity: g.name, entity_type: g.entityType };
  // An entity without observations is still remembered, so that it can be found.
  const observations = g.observations.length > 0 ? g.observations : [null];
  return observations.map((o) => ({
    line,
    id: graphId('entity', g.name, o ?? ''),
    namespace,
    text: o !== null ? `${g.name}: ${o}` : `${g.name} (${g.entityType || 'entity'})`,
    tags,
    metadata,
  }));
}
