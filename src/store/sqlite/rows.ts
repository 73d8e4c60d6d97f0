// Rows of the memories table and how they become records and vectors.
import type { MemoryRecord } from '../types.js';

export interface Row {
  id: string;
  namespace: string;
  text: string;
  content_hash: string;
  metadata: string;
  tags: string;
  created_at: string;
  updated_at: string;
  seq: number;
  embedding: Buffer | null;
  embedding_fingerprint: string | null;
  embedding_status: 'pending' | 'done' | 'failed';
  embedding_attempts: number;
  embedding_error: string | null;
}

export const COLUMNS = `id, namespace, text, content_hash, metadata, tags, created_at, updated_at, seq,
  embedding_fingerprint, embedding_status, embedding_attempts, embedding_error`;

export function toRecord(r: Row): MemoryRecord {
  return {
    id: r.id,
    namespace: r.namespace,
    text: r.text,
    contentHash: r.content_hash,
    metadata: JSON.parse(r.metadata) as MemoryRecord['metadata'],
    tags: JSON.parse(r.tags) as string[],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    seq: r.seq,
    embedding: {
      status: r.embedding_status,
      fingerprint: r.embedding_status === 'done' ? r.embedding_fingerprint : null,
      attempts: r.embedding_attempts,
      lastError: r.embedding_error,
    },
  };
}

export function vectorToBlob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export function blobToVector(b: Buffer): Float32Array {
  // Copy: a Buffer's offset into its pool need not be 4-byte aligned.
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return new Float32Array(copy.buffer);
}
