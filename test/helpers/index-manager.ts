// An IndexManager as the tests use it: silent, and writing snapshots only when asked (persist
// or close), so that what is on disk is what the test made.
import { IndexManager, type IndexManagerOptions } from '../../src/index/index-manager.js';
import { silentLogger } from '../../src/shared/logger.js';
import type { MemoryStore } from '../../src/store/types.js';

export function testIndexManager(
  store: MemoryStore,
  fingerprint: string,
  dimension: number,
  dir: string,
  extra: Partial<IndexManagerOptions> = {},
): IndexManager {
  return new IndexManager({ store, fingerprint, dimension, dir, logger: silentLogger, persistDelayMs: 0, ...extra });
}
