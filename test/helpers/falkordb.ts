// A real FalkorDB server for a test file: started on a free port in a temporary directory,
// stopped afterwards (scripts/falkordb-server.mjs says how it is found or installed).
import { startFalkorDB } from '../../scripts/falkordb-server.mjs';

export { startFalkorDB };
export type FalkorServer = Awaited<ReturnType<typeof startFalkorDB>>;

let counter = 0;
/** A graph name no other test uses. */
export function uniqueGraph(prefix = 'g'): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`;
}
