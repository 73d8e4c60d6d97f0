// The FalkorDB connection: one client per store, connected in the background (the MCP handshake
// must not wait for FalkorDB), every query bounded by a server TIMEOUT and a client-side timer,
// the offline queue disabled so that an outage fails calls at once instead of queueing writes
// to run later, and every failure turned into a STORE_FAILED error that says what to do.
// The client library is loaded on first connection: SQLite users should not pay for loading it.
import type { FalkorDB } from 'falkordb';
import { withDeadline } from '../../shared/abort.js';
import { MemoryError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

export interface ConnectionOptions {
  url: string;
  password?: string | undefined;
  timeoutMs: number;
  logger: Logger;
  /** Runs once per connection before it is used (schema, indexes). */
  prepare: (run: (graph: string, query: string) => Promise<void>) => Promise<void>;
}

export class FalkorConnection {
  private db: FalkorDB | undefined;
  private connecting: Promise<FalkorDB> | undefined;
  private closed = false;

  constructor(private readonly o: ConnectionOptions) {}

  /** Where the data lives, for logs (password hidden). */
  get where(): string {
    return redactUrl(this.o.url);
  }

  /** Starts connecting and returns at once; every query awaits the same attempt. */
  open(): void {
    this.closed = false;
    this.connection().catch((err: unknown) => {
      // The server starts anyway; calls fail with a clear error until FalkorDB answers.
      this.o.logger.warn('FalkorDB is not reachable yet; tool calls will fail until it is', {
        error: errorMessage(err),
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const db = this.db;
    this.db = undefined;
    // Closing a connection that already broke has nothing left to release.
    await db?.close().catch(() => undefined);
  }

  async run<T>(
    graph: string,
    query: string,
    params: Record<string, unknown> = {},
    mode: 'read' | 'write' = 'write',
  ): Promise<T[]> {
    const db = await this.connection();
    const g = db.selectGraph(graph);
    const options = { params: params as never, TIMEOUT: this.o.timeoutMs };
    try {
      const reply = await this.bounded(
        mode === 'read' ? g.roQuery<T>(query, options) : g.query<T>(query, options),
        this.o.timeoutMs + 1000,
        'a FalkorDB query',
      );
      return reply.data ?? [];
    } catch (err) {
      if (/empty key/i.test(errorMessage(err)) && mode === 'read') return []; // graph does not exist yet
      throw this.unavailable(err);
    }
  }

  async listGraphs(): Promise<string[]> {
    const db = await this.connection();
    try {
      return await this.bounded(db.list(), this.o.timeoutMs, 'listing graphs');
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  private connection(): Promise<FalkorDB> {
    if (this.db) return Promise.resolve(this.db);
    if (this.closed) return Promise.reject(new MemoryError('STORE_FAILED', 'the store is closed'));
    this.connecting ??= (async () => {
      try {
        const { FalkorDB: client } = await import('falkordb');
        const db = await this.bounded(
          client.connect({
            url: this.o.url,
            ...(this.o.password !== undefined ? { password: this.o.password } : {}),
            socket: {
              connectTimeout: this.o.timeoutMs,
              // After the first connection, reconnect forever with a capped backoff.
              reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000),
            },
            // Fail at once while disconnected, instead of queueing a write that would run later.
            disableOfflineQueue: true,
          } as Parameters<typeof client.connect>[0]),
          this.o.timeoutMs,
          'connecting to FalkorDB',
        );
        db.on('error', (err: unknown) => {
          this.o.logger.debug('FalkorDB connection error', { error: errorMessage(err) });
        });
        await this.o.prepare(async (graph, query) => {
          await db.selectGraph(graph).query(query, { TIMEOUT: this.o.timeoutMs });
        });
        this.db = db;
        this.o.logger.info('connected to FalkorDB', { location: this.where });
        return db;
      } catch (err) {
        throw this.unavailable(err);
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  private bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
    return withDeadline(work, { ms, timeoutError: () => new Error(`${what} timed out after ${ms} ms`) });
  }

  unavailable(err: unknown): MemoryError {
    if (err instanceof MemoryError) return err;
    const message = errorMessage(err);
    const offline = /offline|ECONNREFUSED|closed|timed out|ENOTFOUND|EHOSTUNREACH|socket/i.test(message);
    return new MemoryError(
      'STORE_FAILED',
      offline ? `FalkorDB at ${this.where} is unreachable: ${message}` : `FalkorDB failed: ${message}`,
      {
        cause: err,
        hint: offline
          ? 'nothing was changed; the server reconnects by itself when FalkorDB is back, then try again'
          : 'nothing was changed; check the server log',
      },
    );
  }
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
