// A real FalkorDB server for a test file: started on a free port in a temporary directory,
// stopped afterwards (scripts/falkordb-server.mjs says how it is found or installed).
import { startFalkorDB as start } from '../../scripts/falkordb-server.mjs';

export interface FalkorServer {
  url: string;
  port: number;
  log(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

export function startFalkorDB(options: { persist?: boolean } = {}): Promise<FalkorServer> {
  return start(options) as Promise<FalkorServer>;
}

let counter = 0;
/** A graph name no other test uses. */
export function uniqueGraph(prefix = 'g'): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${counter++}`;
}
