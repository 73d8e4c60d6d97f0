// Import: memories from a file, with their ids and times. Every record is checked against the
// same rules as memory_store (text, id, namespace, tags, metadata, the size limit) before the
// first write, so a file with a bad line imports nothing. Then writes go in batches. Importing
// the same file again changes nothing: a memory already stored with the same content is left
// alone, and one the store holds in a newer version (a later updated_at) is kept. Vectors in the
// file are used when they come from the configured model; other memories are embedded (or left
// pending for the backfill when the provider fails, as a store would).
import type { MemoryRecord, MemoryWrite, StoredVector } from '../store/types.js';
import { throwIfAborted } from '../shared/abort.js';
import type { ImportRecord } from './transfer-format.js';
import { lineError } from './transfer-format.js';
import type { InputRules } from './validation.js';
import type { WriteFlow } from './write-flow.js';
import type { MemoryStore } from '../store/types.js';

export interface ImportSummary {
  read: number;
  created: number;
  updated: number;
  unchanged: number;
  /** The store's copy was newer than the file's. */
  kept_newer: number;
  /** Vectors taken from the file or the store instead of embedding again. */
  vectors_reused: number;
  embedded: number;
  /** Stored without a vector (provider failed): the backfill embeds them. */
  pending: number;
  embedding_error?: string;
}

export interface ImportOptions {
  signal?: AbortSignal | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

const BATCH = 200;

export async function importRecords(
  deps: { store: MemoryStore; rules: InputRules; writes: WriteFlow; fingerprint: string },
  records: readonly ImportRecord[],
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const { store, rules, writes, fingerprint } = deps;
  const summary: ImportSummary = {
    read: records.length,
    created: 0,
    updated: 0,
    unchanged: 0,
    kept_newer: 0,
    vectors_reused: 0,
    embedded: 0,
    pending: 0,
  };
  // 1. Every rule, on every record, before anything is written.
  const firstLine = new Map<string, ImportRecord>();
  const unique: ImportRecord[] = [];
  for (const given of records) {
    const where = `line ${given.line}: `;
    rules.text(given.text, where);
    rules.id(given.id, where);
    rules.namespace(given.namespace, where);
    rules.metadata(given.metadata, where);
    const r = { ...given, tags: rules.tags(given.tags, where) };
    const earlier = firstLine.get(r.id);
    if (earlier) {
      if (same(earlier, r)) continue; // the same memory twice (server-memory repeats observations)
      throw lineError(r.line, `id "${r.id}" is also on line ${earlier.line}, with other content`);
    }
    firstLine.set(r.id, r);
    unique.push(r);
  }

  // 2. What each record is to the store: new, unchanged, newer there, or to replace.
  const toWrite: { r: ImportRecord; existing: MemoryRecord | undefined }[] = [];
  for (let i = 0; i < unique.length; i += 500) {
    const chunk = unique.slice(i, i + 500);
    const existing = new Map((await store.get(chunk.map((r) => r.id))).map((m) => [m.id, m]));
    for (const r of chunk) {
      const had = existing.get(r.id);
      if (had && same(had, r) && (!r.times || sameTimes(had, r.times))) summary.unchanged++;
      else if (had && r.times && had.updatedAt > r.times.updatedAt) summary.kept_newer++;
      else toWrite.push({ r, existing: had });
    }
  }
  await writes.checkCapacity(toWrite.filter((w) => !w.existing).length);

  // 3. Batches: vectors from the file or the store where they are the configured model's, the rest embedded.
  let done = 0;
  options.onProgress?.(0, toWrite.length);
  for (let i = 0; i < toWrite.length; i += BATCH) {
    throwIfAborted(options.signal);
    const batch = toWrite.slice(i, i + BATCH);
    const vectors = new Map<string, StoredVector>();
    for (const { r } of batch) {
      if (r.vector && r.vector.fingerprint === fingerprint) vectors.set(r.id, r.vector);
    }
    const sameText = batch.filter(({ r, existing }) => !vectors.has(r.id) && existing?.text === r.text);
    if (sameText.length > 0) {
      for (const v of await store.vectorsOf(
        sameText.map(({ r }) => r.id),
        fingerprint,
      )) {
        vectors.set(v.id, { vector: v.vector, fingerprint });
      }
    }
    summary.vectors_reused += vectors.size;
    const missing = batch.filter(({ r }) => !vectors.has(r.id));
    const embedded =
      missing.length > 0
        ? await writes.embed(
            missing.map(({ r }) => r.text),
            options,
          )
        : undefined;
    if (embedded?.vectors) {
      missing.forEach(({ r }, n) => vectors.set(r.id, embedded.vectors![n]!));
      summary.embedded += missing.length;
    } else if (embedded) {
      summary.pending += missing.length;
      if (embedded.error !== undefined) summary.embedding_error = embedded.error;
    }
    const rows: MemoryWrite[] = batch.map(({ r }) => ({
      id: r.id,
      namespace: r.namespace,
      text: r.text,
      metadata: r.metadata,
      tags: r.tags,
      embedding: vectors.get(r.id) ?? null,
      embeddingError: vectors.has(r.id) ? undefined : embedded?.error,
      times: r.times,
    }));
    throwIfAborted(options.signal);
    await writes.commit(() => store.upsert(rows));
    for (const { existing } of batch) {
      if (existing) summary.updated++;
      else summary.created++;
    }
    done += batch.length;
    options.onProgress?.(done, toWrite.length);
  }
  if (toWrite.length > 0) await writes.catchUpIndex(options.signal);
  return summary;
}

function same(a: { namespace: string; text: string; tags: string[]; metadata: object }, b: ImportRecord): boolean {
  return (
    a.namespace === b.namespace &&
    a.text === b.text &&
    JSON.stringify(a.tags) === JSON.stringify(b.tags) &&
    JSON.stringify(a.metadata) === JSON.stringify(b.metadata)
  );
}

function sameTimes(a: MemoryRecord, t: { createdAt: string; updatedAt: string }): boolean {
  return a.createdAt === t.createdAt && a.updatedAt === t.updatedAt;
}
