import type { MemoryStore } from '../store/types.js';

/** Memories holding a vector of `fingerprint`, from the store's counts (kept per write on SQLite: no scan). */
export async function embeddedCount(store: MemoryStore, fingerprint: string): Promise<number> {
  return (await store.embeddingCounts(fingerprint)).reduce((n, c) => n + c.done, 0);
}
