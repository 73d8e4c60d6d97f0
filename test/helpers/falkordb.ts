// A real FalkorDB server for a test file: started on a free port in a temporary directory,
// stopped afterwards (scripts/falkordb-server.mjs says how it is found or installed).
import { after, before } from 'node:test';
import { startFalkorDB } from '../../scripts/falkordb-server.mjs';

export { startFalkorDB };
export type FalkorServer = Awaited<ReturnType<typeof startFalkorDB>>;

let counter = 0;
/** A graph name no other test uses. */
export function uniqueGraph(prefix = 'g'): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`;
}

/**
 * Runs `suite` once on SQLite and once on a FalkorDB started for this file (and, with
 * `falkordbSearch`, once more with search served by FalkorDB); `env` gives the settings of the
 * store under test (read inside the tests, once the server is up).
 */
export function onBothStores(
  graphPrefix: string,
  suite: (name: string, env: () => Record<string, string>) => void,
  options: { falkordbSearch?: boolean } = {},
): void {
  suite('SQLite', () => ({}));
  let server: FalkorServer | undefined;
  before(async () => {
    server = await startFalkorDB();
  });
  after(async () => {
    await server?.stop();
  });
  suite('FalkorDB', () => ({ FALKORDB_URL: server!.url, FALKORDB_GRAPH: uniqueGraph(graphPrefix) }));
  // The same cases with search served by FalkorDB's vector index, no local index (the fleet mode).
  if (options.falkordbSearch) {
    suite('FalkorDB, MEMORY_SEARCH_INDEX=falkordb', () => ({
      FALKORDB_URL: server!.url,
      FALKORDB_GRAPH: uniqueGraph(graphPrefix),
      MEMORY_SEARCH_INDEX: 'falkordb',
    }));
  }
}
