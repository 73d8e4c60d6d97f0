// Export: every memory within a namespace (or all), oldest first, as the JSON lines import
// reads back. Pages are read by keyset, so a memory written meanwhile is listed at most once.
// With vectors, each memory carries its stored vector and the fingerprint of the model that
// made it (an import under the same model then needs no embedding).
import type { MemoryStore, StoredVector } from '../store/types.js';
import { memoryLine } from './transfer-format.js';

const PAGE = 500;

export async function* exportLines(
  store: MemoryStore,
  options: { namespace?: string | undefined; withVectors?: boolean | undefined },
): AsyncGenerator<string> {
  let after: { createdAt: string; id: string } | undefined;
  for (;;) {
    const rows = await store.list({ filter: { namespace: options.namespace }, order: 'oldest', after, limit: PAGE });
    const vectors = new Map<string, StoredVector>();
    if (options.withVectors) {
      const byModel = new Map<string, typeof rows>();
      for (const r of rows) {
        const fp = r.embedding.status === 'done' ? r.embedding.fingerprint : null;
        if (fp) byModel.set(fp, [...(byModel.get(fp) ?? []), r]);
      }
      for (const [fingerprint, of] of byModel) {
        const hashes = new Map(of.map((r) => [r.id, r.contentHash]));
        for (const v of await store.vectorsOf(
          of.map((r) => r.id),
          fingerprint,
        )) {
          if (hashes.get(v.id) === v.contentHash) vectors.set(v.id, { vector: v.vector, fingerprint });
        }
      }
    }
    for (const r of rows) yield memoryLine(r, vectors.get(r.id));
    if (rows.length < PAGE) return;
    const last = rows[rows.length - 1]!;
    after = { createdAt: last.createdAt, id: last.id };
  }
}
