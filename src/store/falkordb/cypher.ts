// Cypher fragments and row shapes shared by the FalkorDB store's parts. Names (labels,
// properties) are checked identifiers before they get here; every value is a parameter.
import { isIdentifier } from '../../shared/identifier.js';
import { MemoryError } from '../../shared/errors.js';
import { contentHash } from '../content-hash.js';
import type { EmbeddingStatus, MemoryRecord, StoredVector } from '../types.js';

export const COUNTER = 'VmmCounter';
export const DELETION = 'VmmDeletion';
export const REF = 'VmmRef';
export const INTERNAL_LABELS: readonly string[] = [COUNTER, DELETION, REF];

/** A backquoted identifier. */
export const q = (name: string): string => `\`${name}\``;

/**
 * Takes `n` (a Cypher expression) numbers of the change sequence in the same query as the write
 * (a FalkorDB query is atomic): afterwards `c.value` is the last number taken, so the numbers
 * are `c.value - n + 1 .. c.value`.
 */
export function bumpCounter(n: string): string {
  return `MERGE (c:${COUNTER} {name: 'seq'}) ON CREATE SET c.value = 0 SET c.value = c.value + ${n}`;
}

/** The columns every read of our own memory nodes returns (see MemoryRow). */
export function memoryFields(alias: string, embeddingProperty: string, withEmbedding = false): string {
  const a = alias;
  return (
    `${a}.memory_id AS id, ${a}.namespace AS namespace, ${a}.text AS text, ` +
    `${a}.content_hash AS content_hash, ${a}.metadata AS metadata, ${a}.tags AS tags, ` +
    `${a}.created_at AS created_at, ${a}.updated_at AS updated_at, ${a}.seq AS seq, ` +
    `${a}.embedding_fingerprint AS fingerprint, ${a}.embedding_status AS status, ` +
    `${a}.embedding_attempts AS attempts, ${a}.embedding_error AS error` +
    (withEmbedding ? `, ${a}.${q(embeddingProperty)} AS embedding` : '')
  );
}

export interface MemoryRow {
  id: string;
  namespace: string | null;
  text: string;
  content_hash: string | null;
  metadata: string | null;
  tags: string[] | null;
  created_at: string | null;
  updated_at: string | null;
  seq: number | null;
  fingerprint: string | null;
  status: EmbeddingStatus | null;
  attempts: number | null;
  error: string | null;
  embedding?: number[] | null;
}

export function toRecord(r: MemoryRow): MemoryRecord {
  const status = r.status ?? 'pending';
  return {
    id: r.id,
    namespace: r.namespace ?? 'default',
    text: r.text,
    contentHash: r.content_hash ?? contentHash(r.text),
    metadata: r.metadata ? (JSON.parse(r.metadata) as MemoryRecord['metadata']) : {},
    tags: r.tags ?? [],
    createdAt: r.created_at ?? '',
    updatedAt: r.updated_at ?? '',
    seq: r.seq ?? 0,
    embedding: {
      status,
      fingerprint: status === 'done' ? r.fingerprint : null,
      attempts: r.attempts ?? 0,
      lastError: r.error,
    },
  };
}

export function vectorOf(r: {
  status: string | null;
  fingerprint?: string | null;
  embedding?: unknown;
}): StoredVector | null {
  if (r.status !== 'done' || !r.fingerprint || !Array.isArray(r.embedding)) return null;
  return { vector: Float32Array.from(r.embedding as number[]), fingerprint: r.fingerprint };
}

export function checkIdentifier(name: string): string {
  if (!isIdentifier(name)) {
    throw new MemoryError('INVALID_INPUT', `"${name}" is not a plain identifier`, {
      hint: 'graph and label names are letters, digits and _',
    });
  }
  return name;
}
