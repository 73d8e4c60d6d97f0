// FalkorDB as the store: memories are nodes, shared by every server process that points at
// the same FalkorDB.
//
// The home graph (FALKORDB_GRAPH) holds our memory nodes (FALKORDB_LABEL), one sequence
// counter, a deletion log and a reference node per memory that lives elsewhere. Every write
// bumps the counter inside the same query (a FalkorDB query is atomic), so sequence order is
// commit order, exactly as in the SQLite store, and the index manager catches up the same way.
//
// Nodes written by other tools (any graph, any label, with a text property) become memories
// when the backfill embeds them: the vector is written back to the node (vecf32), the node
// gets a stable `memory_id`, and only after that write completes is a `VmmRef` registered in
// the home graph with the next sequence number. A reader that sees the reference therefore
// always finds the embedded node.
//
// Names of graphs, labels and properties come from config and are checked against a strict
// identifier pattern before they are put inside a query; every value is a query parameter.
// Loaded on first connection: the client library takes ~180 ms to load, which SQLite users should not pay.
import type { FalkorDB } from 'falkordb';
import { MemoryError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { contentHash } from '../content-hash.js';
import { statsFromCounts } from '../stats.js';
import type {
  ChangeEvent,
  ChangePage,
  EmbeddingFailure,
  MemoryPatch,
  MemoryRecord,
  MemoryStore,
  MemoryWrite,
  EmbeddingStatus,
  Origin,
  BackfillScope,
  EmbeddingCount,
  ForeignCount,
  StoreStats,
  StoredVector,
} from '../types.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const COUNTER = 'VmmCounter';
const DELETION = 'VmmDeletion';
const REF = 'VmmRef';
const INTERNAL_LABELS = [COUNTER, DELETION, REF];

export interface FalkorDBStoreOptions {
  url: string;
  password?: string | undefined;
  graph: string;
  label: string;
  logger: Logger;
  timeoutMs?: number;
  /** Graphs whose nodes the backfill embeds; undefined = every graph. */
  backfillGraphs?: readonly string[] | undefined;
  /** Labels whose nodes the backfill embeds; undefined = any label. */
  backfillLabels?: readonly string[] | undefined;
  textProperty?: string;
  embeddingProperty?: string;
}

export type ForeignOrigin = Origin;

interface Row {
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
  status: 'pending' | 'done' | 'failed' | null;
  attempts: number | null;
  error: string | null;
  embedding?: number[] | null;
}

interface RefRow {
  id: string;
  graph: string;
  node_id: number;
  seq: number;
  fingerprint: string | null;
}

export class FalkorDBStore implements MemoryStore {
  readonly kind = 'falkordb';
  readonly location: string;
  private readonly o: Required<Omit<FalkorDBStoreOptions, 'password' | 'backfillGraphs' | 'backfillLabels'>> &
    Pick<FalkorDBStoreOptions, 'password' | 'backfillGraphs' | 'backfillLabels'>;
  private db: FalkorDB | undefined;
  private connecting: Promise<FalkorDB> | undefined;
  private closed = false;

  constructor(options: FalkorDBStoreOptions) {
    this.o = { timeoutMs: 10_000, textProperty: 'text', embeddingProperty: 'embedding', ...options };
    for (const [what, name] of [
      ['graph', options.graph],
      ['label', options.label],
      ['text property', this.o.textProperty],
      ['embedding property', this.o.embeddingProperty],
      ...(options.backfillGraphs ?? []).map((g) => ['backfill graph', g] as const),
      ...(options.backfillLabels ?? []).map((l) => ['backfill label', l] as const),
    ] as const) {
      if (!IDENTIFIER.test(name) || INTERNAL_LABELS.includes(name)) {
        throw new MemoryError('CONFIG_INVALID', `FalkorDB ${what} "${name}" is not a plain identifier`);
      }
    }
    this.location = `${redactUrl(options.url)} graph ${options.graph}`;
  }

  // ---------------------------------------------------------------- connection

  /**
   * Starts connecting and returns at once: the MCP handshake must not wait for FalkorDB (up to
   * FALKORDB_TIMEOUT_MS when it is down). Every query awaits the same connection attempt.
   */
  async open(): Promise<void> {
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
    await db?.close().catch(() => undefined);
  }

  private connection(): Promise<FalkorDB> {
    if (this.db) return Promise.resolve(this.db);
    if (this.closed) return Promise.reject(new MemoryError('STORE_FAILED', 'the store is closed'));
    this.connecting ??= (async () => {
      try {
        const { FalkorDB: client } = await import('falkordb');
        const db = await withTimeout(
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
        await this.ensureSchema(db);
        this.db = db;
        this.o.logger.info('connected to FalkorDB', { location: this.location });
        return db;
      } catch (err) {
        throw this.unavailable(err);
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  private async ensureSchema(db: FalkorDB): Promise<void> {
    const g = db.selectGraph(this.o.graph);
    const indexes: [string, string][] = [
      [this.o.label, 'memory_id'],
      [this.o.label, 'seq'],
      [this.o.label, 'embedding_status'],
      [DELETION, 'seq'],
      [REF, 'memory_id'],
      [REF, 'seq'],
      [COUNTER, 'name'],
    ];
    for (const [label, prop] of indexes) {
      try {
        await g.query(`CREATE INDEX FOR (n:\`${label}\`) ON (n.\`${prop}\`)`, { TIMEOUT: this.o.timeoutMs });
      } catch (err) {
        if (!/already indexed/i.test(errorMessage(err))) throw err;
      }
    }
  }

  private async run<T>(
    graph: string,
    query: string,
    params: Record<string, unknown> = {},
    mode: 'read' | 'write' = 'write',
  ): Promise<T[]> {
    const db = await this.connection();
    const g = db.selectGraph(graph);
    const options = { params: params as never, TIMEOUT: this.o.timeoutMs };
    try {
      const reply = await withTimeout(
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

  private unavailable(err: unknown): MemoryError {
    if (err instanceof MemoryError) return err;
    const message = errorMessage(err);
    const offline = /offline|ECONNREFUSED|closed|timed out|ENOTFOUND|EHOSTUNREACH|socket/i.test(message);
    return new MemoryError(
      'STORE_FAILED',
      offline ? `FalkorDB at ${redactUrl(this.o.url)} is unreachable: ${message}` : `FalkorDB failed: ${message}`,
      {
        cause: err,
        hint: offline
          ? 'nothing was changed; the server reconnects by itself when FalkorDB is back, then try again'
          : 'nothing was changed; check the server log',
      },
    );
  }

  // ---------------------------------------------------------------- our memories

  private get L(): string {
    return `\`${this.o.label}\``;
  }

  private get E(): string {
    return `\`${this.o.embeddingProperty}\``;
  }

  private fields(alias: string, withEmbedding = false): string {
    return (
      `${alias}.memory_id AS id, ${alias}.namespace AS namespace, ${alias}.text AS text, ` +
      `${alias}.content_hash AS content_hash, ${alias}.metadata AS metadata, ${alias}.tags AS tags, ` +
      `${alias}.created_at AS created_at, ${alias}.updated_at AS updated_at, ${alias}.seq AS seq, ` +
      `${alias}.embedding_fingerprint AS fingerprint, ${alias}.embedding_status AS status, ` +
      `${alias}.embedding_attempts AS attempts, ${alias}.embedding_error AS error` +
      (withEmbedding ? `, ${alias}.${this.E} AS embedding` : '')
    );
  }

  async upsert(writes: readonly MemoryWrite[]): Promise<MemoryRecord[]> {
    if (writes.length === 0) return [];
    const ids = writes.map((w) => w.id);
    const foreign = await this.refs(ids);
    if (foreign.length > 0) {
      throw new MemoryError(
        'INVALID_INPUT',
        `memory ${foreign[0]!.id} is a node of graph "${foreign[0]!.graph}" written by another tool`,
        { hint: 'change it in its own graph, or store under another id' },
      );
    }
    const now = new Date().toISOString();
    const items = writes.map((w) => ({
      id: w.id,
      namespace: w.namespace,
      text: w.text,
      hash: contentHash(w.text),
      metadata: JSON.stringify(w.metadata),
      tags: w.tags,
      embedding: w.embedding ? [...w.embedding.vector] : null,
      fingerprint: w.embedding?.fingerprint ?? null,
      status: w.embedding ? 'done' : 'pending',
      attempts: w.embedding || w.embeddingError !== undefined ? 1 : 0,
      error: w.embeddingError ?? null,
    }));
    await this.run(
      this.o.graph,
      `MERGE (c:${COUNTER} {name: 'seq'}) ON CREATE SET c.value = 0
       WITH c SET c.value = c.value + size($items)
       WITH c.value - size($items) AS base
       UNWIND range(0, size($items) - 1) AS i
       WITH base + i + 1 AS seq, $items[i] AS item
       MERGE (m:${this.L} {memory_id: item.id})
       ON CREATE SET m.created_at = $now
       SET m.namespace = item.namespace, m.text = item.text, m.content_hash = item.hash,
           m.metadata = item.metadata, m.tags = item.tags, m.updated_at = $now, m.seq = seq,
           m.${this.E} = CASE WHEN item.embedding IS NULL THEN NULL ELSE vecf32(item.embedding) END,
           m.embedding_fingerprint = item.fingerprint, m.embedding_status = item.status,
           m.embedding_attempts = item.attempts, m.embedding_error = item.error, m.attempt_fingerprint = NULL`,
      { items, now },
    );
    return this.get(ids);
  }

  async patch(id: string, patch: MemoryPatch): Promise<MemoryRecord | null> {
    const [current] = await this.run<{ hash: string }>(
      this.o.graph,
      `MATCH (m:${this.L} {memory_id: $id}) RETURN m.content_hash AS hash`,
      { id },
      'read',
    );
    if (!current) {
      const [ref] = await this.refs([id]);
      if (ref) {
        throw new MemoryError(
          'INVALID_INPUT',
          `memory ${id} is a node of graph "${ref.graph}" written by another tool`,
          {
            hint: 'change it in its own graph; the backfill re-embeds it when its embedding is cleared',
          },
        );
      }
      return null;
    }
    if (patch.text !== undefined && contentHash(patch.text) !== current.hash && patch.embedding === undefined) {
      throw new Error('patch: a text change needs the new embedding (or null)');
    }
    const sets: string[] = ['m.updated_at = $now', 'm.seq = seq'];
    const params: Record<string, unknown> = { id, now: new Date().toISOString() };
    if (patch.text !== undefined) {
      sets.push('m.text = $text', 'm.content_hash = $hash');
      params['text'] = patch.text;
      params['hash'] = contentHash(patch.text);
    }
    if (patch.metadata !== undefined) {
      sets.push('m.metadata = $metadata');
      params['metadata'] = JSON.stringify(patch.metadata);
    }
    if (patch.tags !== undefined) {
      sets.push('m.tags = $tags');
      params['tags'] = patch.tags;
    }
    if (patch.embedding !== undefined) {
      sets.push(
        `m.${this.E} = CASE WHEN $embedding IS NULL THEN NULL ELSE vecf32($embedding) END`,
        'm.embedding_fingerprint = $fingerprint',
        'm.embedding_status = $status',
        'm.embedding_attempts = $attempts',
        'm.embedding_error = $error',
        'm.attempt_fingerprint = NULL',
      );
      params['embedding'] = patch.embedding ? [...patch.embedding.vector] : null;
      params['fingerprint'] = patch.embedding?.fingerprint ?? null;
      params['status'] = patch.embedding ? 'done' : 'pending';
      params['attempts'] = patch.embedding || patch.embeddingError !== undefined ? 1 : 0;
      params['error'] = patch.embeddingError ?? null;
    }
    const done = await this.run<{ id: string }>(
      this.o.graph,
      `MATCH (m:${this.L} {memory_id: $id})
       MERGE (c:${COUNTER} {name: 'seq'}) ON CREATE SET c.value = 0
       SET c.value = c.value + 1
       WITH m, c.value AS seq
       SET ${sets.join(', ')}
       RETURN m.memory_id AS id`,
      params,
    );
    if (done.length === 0) return null;
    return (await this.get([id]))[0] ?? null;
  }

  async get(ids: readonly string[]): Promise<MemoryRecord[]> {
    if (ids.length === 0) return [];
    const unique = [...new Set(ids)];
    const rows = await this.run<Row>(
      this.o.graph,
      `MATCH (m:${this.L}) WHERE m.memory_id IN $ids RETURN ${this.fields('m')}`,
      { ids: unique },
      'read',
    );
    const byId = new Map(rows.map((r) => [r.id, this.toRecord(r)]));
    const rest = unique.filter((id) => !byId.has(id));
    if (rest.length > 0) {
      for (const f of await this.foreignRecords(await this.refs(rest), false)) byId.set(f.record.id, f.record);
    }
    return unique.map((id) => byId.get(id)).filter((r): r is MemoryRecord => r !== undefined);
  }

  async delete(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const unique = [...new Set(ids)];
    const own = await this.run<{ id: string }>(
      this.o.graph,
      `MATCH (m:${this.L}) WHERE m.memory_id IN $ids
       WITH collect(m) AS ms
       MERGE (c:${COUNTER} {name: 'seq'}) ON CREATE SET c.value = 0
       SET c.value = c.value + size(ms)
       WITH ms, c.value - size(ms) AS base
       UNWIND range(0, size(ms) - 1) AS i
       WITH ms[i] AS m, base + i + 1 AS seq
       CREATE (:${DELETION} {memory_id: m.memory_id, seq: seq})
       WITH m, m.memory_id AS id
       DETACH DELETE m
       RETURN id`,
      { ids: unique },
    );
    const deleted = new Set(own.map((r) => r.id));
    const refs = await this.refs(unique.filter((id) => !deleted.has(id)));
    for (const ref of refs) {
      // Delete the node written by another tool first, then record the deletion.
      await this.run(ref.graph, `MATCH (n) WHERE ID(n) = $nid AND n.memory_id = $id DETACH DELETE n`, {
        nid: ref.node_id,
        id: ref.id,
      });
      await this.dropRef(ref.id);
      deleted.add(ref.id);
    }
    return unique.filter((id) => deleted.has(id));
  }

  async setEmbedding(id: string, hash: string, vector: StoredVector, origin?: ForeignOrigin): Promise<boolean> {
    if (origin) return this.setForeignEmbedding(id, hash, vector, origin);
    const done = await this.run<{ id: string }>(
      this.o.graph,
      `MATCH (m:${this.L} {memory_id: $id}) WHERE m.content_hash = $hash
       MERGE (c:${COUNTER} {name: 'seq'}) ON CREATE SET c.value = 0
       SET c.value = c.value + 1
       WITH m, c.value AS seq
       SET m.${this.E} = vecf32($vector), m.embedding_fingerprint = $fp, m.embedding_status = 'done',
           m.embedding_error = NULL, m.attempt_fingerprint = NULL,
           m.embedding_attempts = coalesce(m.embedding_attempts, 0) + 1, m.seq = seq
       RETURN m.memory_id AS id`,
      { id, hash, vector: [...vector.vector], fp: vector.fingerprint },
    );
    return done.length > 0;
  }

  async recordEmbeddingFailure(
    id: string,
    hash: string,
    failure: EmbeddingFailure,
    origin?: ForeignOrigin,
  ): Promise<void> {
    const params = {
      id,
      hash,
      error: failure.error,
      permanent: failure.permanent,
      max: failure.maxAttempts,
      fp: failure.fingerprint,
    };
    const set = `SET n.embedding_attempts = coalesce(n.embedding_attempts, 0) + 1, n.embedding_error = $error,
           n.embedding_status = CASE WHEN $permanent OR coalesce(n.embedding_attempts, 0) + 1 >= $max
             THEN 'failed' ELSE coalesce(n.embedding_status, 'pending') END,
           n.attempt_fingerprint = $fp`;
    if (origin) {
      await this.run(origin.graph, `MATCH (n) WHERE ID(n) = $nid AND n.memory_id = $id ${set}`, {
        ...params,
        nid: origin.nodeId,
      });
      return;
    }
    await this.run(this.o.graph, `MATCH (n:${this.L} {memory_id: $id}) WHERE n.content_hash = $hash ${set}`, params);
  }

  async listNeedingEmbedding(fingerprint: string, limit: number, scope: BackfillScope = {}): Promise<MemoryRecord[]> {
    // Our own memories take part unless the scope names another graph or a foreign label.
    const ownInScope =
      (scope.graph === undefined || scope.graph === this.o.graph) &&
      (scope.label === undefined || scope.label === this.o.label);
    let own: MemoryRecord[] = [];
    if (ownInScope) {
      const rows = await this.run<Row>(
        this.o.graph,
        `MATCH (m:${this.L})
         WHERE (m.embedding_status = 'pending'
            OR (m.embedding_status = 'done' AND m.embedding_fingerprint <> $fp)
            OR (m.embedding_status = 'failed' AND (m.attempt_fingerprint IS NULL OR m.attempt_fingerprint <> $fp)))
           AND ($namespace IS NULL OR m.namespace = $namespace)
         RETURN ${this.fields('m')} ORDER BY m.seq DESC LIMIT $limit`,
        { fp: fingerprint, limit, namespace: scope.namespace ?? null },
        'read',
      );
      own = rows.map((r) => this.toRecord(r));
    }
    if (own.length >= limit || (scope.label !== undefined && scope.label === this.o.label)) return own;
    return [...own, ...(await this.listForeignNeedingEmbedding(fingerprint, limit - own.length, scope))];
  }

  async embeddingCounts(fingerprint: string): Promise<EmbeddingCount[]> {
    const rows = await this.run<{ namespace: string; done: number; failed: number; total: number }>(
      this.o.graph,
      `MATCH (m:${this.L})
       RETURN m.namespace AS namespace,
         sum(CASE WHEN m.embedding_status = 'done' AND m.embedding_fingerprint = $fp THEN 1 ELSE 0 END) AS done,
         sum(CASE WHEN m.embedding_status = 'failed' AND m.attempt_fingerprint = $fp THEN 1 ELSE 0 END) AS failed,
         count(m) AS total
       ORDER BY namespace`,
      { fp: fingerprint },
      'read',
    );
    return rows.map((r) => ({
      namespace: r.namespace,
      done: r.done,
      failed: r.failed,
      pending: r.total - r.done - r.failed,
    }));
  }

  async changesSince(afterSeq: number, limit: number): Promise<ChangePage> {
    const head = await this.headSeq();
    const [ups, dels, refs] = await Promise.all([
      this.run<Row>(
        this.o.graph,
        `MATCH (m:${this.L}) WHERE m.seq > $after RETURN ${this.fields('m', true)} ORDER BY m.seq LIMIT $limit`,
        { after: afterSeq, limit },
        'read',
      ),
      this.run<{ id: string; seq: number }>(
        this.o.graph,
        `MATCH (d:${DELETION}) WHERE d.seq > $after RETURN d.memory_id AS id, d.seq AS seq ORDER BY d.seq LIMIT $limit`,
        { after: afterSeq, limit },
        'read',
      ),
      this.run<RefRow>(
        this.o.graph,
        `MATCH (r:${REF}) WHERE r.seq > $after
         RETURN r.memory_id AS id, r.graph AS graph, r.node_id AS node_id, r.seq AS seq, r.fingerprint AS fingerprint
         ORDER BY r.seq LIMIT $limit`,
        { after: afterSeq, limit },
        'read',
      ),
    ]);
    let toSeq = head;
    for (const list of [ups, dels, refs])
      if (list.length === limit) toSeq = Math.min(toSeq, list[list.length - 1]!.seq!);
    const events: ChangeEvent[] = [];
    for (const r of ups) {
      if (r.seq! > toSeq) break;
      events.push({ seq: r.seq!, kind: 'upsert', record: this.toRecord(r), vector: this.vectorOf(r) });
    }
    for (const d of dels) if (d.seq <= toSeq) events.push({ seq: d.seq, kind: 'delete', id: d.id });
    const inRange = refs.filter((r) => r.seq <= toSeq);
    const found = new Map((await this.foreignRecords(inRange, true)).map((f) => [f.record.id, f]));
    for (const ref of inRange) {
      const f = found.get(ref.id);
      // A referenced node that is gone (deleted by its own tool) leaves the index.
      events.push(
        f
          ? { seq: ref.seq, kind: 'upsert', record: f.record, vector: f.vector }
          : { seq: ref.seq, kind: 'delete', id: ref.id },
      );
    }
    events.sort((a, b) => a.seq - b.seq);
    return { events, toSeq: Math.max(toSeq, afterSeq), more: toSeq < head };
  }

  async embeddedIds(fingerprint: string): Promise<string[]> {
    const own = await this.run<{ id: string }>(
      this.o.graph,
      `MATCH (m:${this.L}) WHERE m.embedding_status = 'done' AND m.embedding_fingerprint = $fp RETURN m.memory_id AS id`,
      { fp: fingerprint },
      'read',
    );
    const refs = await this.run<{ id: string }>(
      this.o.graph,
      `MATCH (r:${REF}) WHERE r.fingerprint = $fp RETURN r.memory_id AS id`,
      { fp: fingerprint },
      'read',
    );
    return [...own, ...refs].map((r) => r.id);
  }

  async vectorsOf(
    ids: readonly string[],
    fingerprint: string,
  ): Promise<{ id: string; contentHash: string; vector: Float32Array }[]> {
    if (ids.length === 0) return [];
    const rows = await this.run<Row>(
      this.o.graph,
      `MATCH (m:${this.L}) WHERE m.memory_id IN $ids RETURN ${this.fields('m', true)}`,
      { ids: [...ids] },
      'read',
    );
    const out: { id: string; contentHash: string; vector: Float32Array }[] = [];
    for (const r of rows) {
      const v = this.vectorOf(r);
      if (v && v.fingerprint === fingerprint)
        out.push({ id: r.id, contentHash: this.toRecord(r).contentHash, vector: v.vector });
    }
    const found = new Set(out.map((o) => o.id));
    for (const f of await this.foreignRecords(await this.refs(ids.filter((id) => !found.has(id))), true)) {
      if (f.vector && f.vector.fingerprint === fingerprint) {
        out.push({ id: f.record.id, contentHash: f.record.contentHash, vector: f.vector.vector });
      }
    }
    return out;
  }

  async headSeq(): Promise<number> {
    const [row] = await this.run<{ value: number }>(
      this.o.graph,
      `MATCH (c:${COUNTER} {name: 'seq'}) RETURN c.value AS value`,
      {},
      'read',
    );
    return row?.value ?? 0;
  }

  async count(): Promise<number> {
    const [row] = await this.run<{ n: number }>(this.o.graph, `MATCH (m:${this.L}) RETURN count(m) AS n`, {}, 'read');
    return row?.n ?? 0;
  }

  async stats(): Promise<StoreStats> {
    const rows = await this.run<{ status: string; n: number }>(
      this.o.graph,
      `MATCH (m:${this.L}) RETURN m.embedding_status AS status, count(m) AS n`,
      {},
      'read',
    );
    return statsFromCounts(rows, await this.headSeq());
  }

  // ---------------------------------------------------------------- nodes written by other tools

  /** Graphs the backfill looks at: the configured ones, or every graph but other servers' homes. */
  async targetGraphs(): Promise<string[]> {
    if (this.o.backfillGraphs) return [...this.o.backfillGraphs];
    const db = await this.connection();
    let all: string[];
    try {
      all = await withTimeout(db.list(), this.o.timeoutMs, 'listing graphs');
    } catch (err) {
      throw this.unavailable(err);
    }
    // Another vector-memory-mcp's home graph holds its own memories: never embed those.
    const out: string[] = [];
    for (const g of all.filter((name) => IDENTIFIER.test(name))) {
      if (g === this.o.graph) {
        out.push(g);
        continue;
      }
      const [home] = await this.run<{ n: number }>(g, `MATCH (c:${COUNTER}) RETURN count(c) AS n`, {}, 'read');
      if ((home?.n ?? 0) === 0) out.push(g);
    }
    return out;
  }

  /** The condition that makes a node a candidate: text, not ours, in the configured labels. */
  private candidateWhere(alias: string, isHome: boolean): string {
    const t = `${alias}.\`${this.o.textProperty}\``;
    const parts = [`typeOf(${t}) = 'String'`, `trim(${t}) <> ''`];
    for (const l of INTERNAL_LABELS) parts.push(`NOT ${alias}:\`${l}\``);
    if (isHome) parts.push(`NOT ${alias}:${this.L}`);
    if (this.o.backfillLabels) parts.push(`(${this.o.backfillLabels.map((l) => `${alias}:\`${l}\``).join(' OR ')})`);
    return parts.join(' AND ');
  }

  private async listForeignNeedingEmbedding(
    fingerprint: string,
    limit: number,
    scope: BackfillScope,
  ): Promise<MemoryRecord[]> {
    const out: MemoryRecord[] = [];
    const graphs = (await this.targetGraphs()).filter(
      (g) =>
        (scope.graph === undefined || g === scope.graph) && (scope.namespace === undefined || g === scope.namespace),
    );
    const labelFilter = scope.label !== undefined ? ` AND n:\`${checkIdentifier(scope.label)}\`` : '';
    for (const graph of graphs) {
      if (out.length >= limit) break;
      const rows = await this.run<ForeignRow & { text: string }>(
        graph,
        `MATCH (n) WHERE ${this.candidateWhere('n', graph === this.o.graph)}${labelFilter}
           AND (n.${this.E} IS NULL OR n.embedding_fingerprint IS NULL OR n.embedding_fingerprint <> $fp)
           AND NOT (coalesce(n.embedding_status, '') = 'failed' AND coalesce(n.attempt_fingerprint, '') = $fp)
         WITH n ORDER BY ID(n) DESC LIMIT $limit
         SET n.memory_id = coalesce(n.memory_id, randomUUID()), n.memory_created_at = coalesce(n.memory_created_at, $now)
         RETURN ID(n) AS nid, n.memory_id AS id, labels(n) AS labels, n.\`${this.o.textProperty}\` AS text,
                n.embedding_status AS status, n.embedding_attempts AS attempts, n.embedding_error AS error,
                n.memory_created_at AS created_at`,
        { fp: fingerprint, limit: limit - out.length, now: new Date().toISOString() },
      );
      for (const r of rows) out.push(foreignRecord(graph, r, r.text, 0, r.status === 'failed' ? 'failed' : 'pending'));
    }
    return out;
  }

  private async setForeignEmbedding(
    id: string,
    hash: string,
    vector: StoredVector,
    origin: ForeignOrigin,
  ): Promise<boolean> {
    const t = `\`${this.o.textProperty}\``;
    const rows = await this.run<{ text: string }>(
      origin.graph,
      `MATCH (n) WHERE ID(n) = $nid AND n.memory_id = $id RETURN n.${t} AS text`,
      { nid: origin.nodeId, id },
      'read',
    );
    if (!rows[0] || typeof rows[0].text !== 'string' || contentHash(rows[0].text) !== hash) return false;
    const written = await this.run<{ id: string }>(
      origin.graph,
      `MATCH (n) WHERE ID(n) = $nid AND n.memory_id = $id AND n.${t} = $text
       SET n.${this.E} = vecf32($vector), n.embedding_fingerprint = $fp, n.embedding_status = 'done',
           n.embedding_error = NULL, n.attempt_fingerprint = NULL, n.content_hash = $hash,
           n.embedding_attempts = coalesce(n.embedding_attempts, 0) + 1
       RETURN n.memory_id AS id`,
      { nid: origin.nodeId, id, text: rows[0].text, vector: [...vector.vector], fp: vector.fingerprint, hash },
    );
    if (written.length === 0) return false;
    // Only now, with the node written, does the change get its sequence number.
    await this.registerRef(id, origin.graph, origin.nodeId, vector.fingerprint, hash);
    return true;
  }

  /** Gives a node of another graph the next sequence number, so every index picks it up. */
  private async registerRef(id: string, graph: string, nodeId: number, fingerprint: string, hash: string) {
    await this.run(
      this.o.graph,
      `MERGE (c:${COUNTER} {name: 'seq'}) ON CREATE SET c.value = 0
       SET c.value = c.value + 1
       WITH c.value AS seq
       MERGE (r:${REF} {memory_id: $id})
       SET r.graph = $graph, r.node_id = $nid, r.seq = seq, r.fingerprint = $fp, r.content_hash = $hash`,
      { id, graph, nid: nodeId, fp: fingerprint, hash },
    );
  }

  private async refs(ids: readonly string[]): Promise<RefRow[]> {
    if (ids.length === 0) return [];
    return this.run<RefRow>(
      this.o.graph,
      `MATCH (r:${REF}) WHERE r.memory_id IN $ids
       RETURN r.memory_id AS id, r.graph AS graph, r.node_id AS node_id, r.seq AS seq, r.fingerprint AS fingerprint`,
      { ids: [...ids] },
      'read',
    );
  }

  /** Removes a reference and logs the deletion, so every index drops the memory. */
  private async dropRef(id: string): Promise<void> {
    await this.run(
      this.o.graph,
      `MATCH (r:${REF} {memory_id: $id})
       MERGE (c:${COUNTER} {name: 'seq'}) ON CREATE SET c.value = 0
       SET c.value = c.value + 1
       WITH r, c.value AS seq
       CREATE (:${DELETION} {memory_id: r.memory_id, seq: seq})
       DELETE r`,
      { id },
    );
  }

  /** Reads referenced nodes from their graphs; nodes that are gone are left out. */
  private async foreignRecords(
    refs: readonly RefRow[],
    withVector: boolean,
  ): Promise<{ record: MemoryRecord; vector: StoredVector | null }[]> {
    const byGraph = new Map<string, RefRow[]>();
    for (const r of refs) byGraph.set(r.graph, [...(byGraph.get(r.graph) ?? []), r]);
    const out: { record: MemoryRecord; vector: StoredVector | null }[] = [];
    for (const [graph, list] of byGraph) {
      const rows = await this.run<
        ForeignRow & { text: unknown; fingerprint: string | null; embedding?: number[] | null }
      >(
        graph,
        `MATCH (n) WHERE ID(n) IN $nids
         RETURN ID(n) AS nid, n.memory_id AS id, labels(n) AS labels, n.\`${this.o.textProperty}\` AS text,
                n.embedding_fingerprint AS fingerprint, n.embedding_status AS status,
                n.embedding_attempts AS attempts, n.embedding_error AS error, n.memory_created_at AS created_at
                ${withVector ? `, n.${this.E} AS embedding` : ''}`,
        { nids: list.map((r) => r.node_id) },
        'read',
      );
      const wanted = new Map(list.map((r) => [r.node_id, r]));
      for (const r of rows) {
        const ref = wanted.get(r.nid);
        if (ref?.id !== r.id || typeof r.text !== 'string') continue;
        const status = r.status === 'done' || r.status === 'failed' ? r.status : 'pending';
        out.push({
          record: foreignRecord(graph, r, r.text, ref.seq, status),
          vector:
            withVector && status === 'done' && r.fingerprint && Array.isArray(r.embedding)
              ? { vector: Float32Array.from(r.embedding), fingerprint: r.fingerprint }
              : null,
        });
      }
    }
    return out;
  }

  /**
   * Finds references whose node was deleted, or whose text changed, by the tool that owns it:
   * the first leave the index; the second are marked pending and re-embedded by the backfill.
   */
  async reconcileForeign(fingerprint: string): Promise<{ removed: number; changed: number; adopted: number }> {
    const refs = await this.run<RefRow & { content_hash: string }>(
      this.o.graph,
      `MATCH (r:${REF}) RETURN r.memory_id AS id, r.graph AS graph, r.node_id AS node_id, r.seq AS seq,
         r.fingerprint AS fingerprint, r.content_hash AS content_hash`,
      {},
      'read',
    );
    const present = new Map((await this.foreignRecords(refs, false)).map((f) => [f.record.id, f.record]));
    let removed = 0;
    let changed = 0;
    for (const ref of refs) {
      const rec = present.get(ref.id);
      if (!rec) {
        await this.dropRef(ref.id);
        removed++;
      } else if (rec.contentHash !== ref.content_hash) {
        await this.run(
          ref.graph,
          `MATCH (n) WHERE ID(n) = $nid AND n.memory_id = $id SET n.embedding_status = 'pending', n.embedding_fingerprint = NULL`,
          {
            nid: ref.node_id,
            id: ref.id,
          },
        );
        await this.dropRef(ref.id);
        changed++;
      }
    }
    const adopted = await this.adoptEmbedded(fingerprint, new Set(refs.map((r) => r.id)));
    return { removed, changed, adopted };
  }

  /**
   * Registers nodes that already carry an embedding of the configured model but are not yet
   * memories: written by another process of ours that crashed before registering them, or by a
   * tool that uses the same model and marks it in `embedding_fingerprint`. They are not re-embedded.
   */
  private async adoptEmbedded(fingerprint: string, registered: Set<string>): Promise<number> {
    let adopted = 0;
    const t = `\`${this.o.textProperty}\``;
    for (const graph of await this.targetGraphs()) {
      const rows = await this.run<{ nid: number; id: string; text: string; hash: string | null }>(
        graph,
        `MATCH (n) WHERE ${this.candidateWhere('n', graph === this.o.graph)}
           AND n.${this.E} IS NOT NULL AND n.embedding_fingerprint = $fp
         SET n.memory_id = coalesce(n.memory_id, randomUUID()),
             n.memory_created_at = coalesce(n.memory_created_at, $now)
         RETURN ID(n) AS nid, n.memory_id AS id, n.${t} AS text, n.content_hash AS hash`,
        { fp: fingerprint, now: new Date().toISOString() },
      );
      for (const r of rows) {
        if (registered.has(r.id)) continue;
        const hash = contentHash(r.text);
        if (r.hash !== null && r.hash !== hash) {
          // Embedded for an older text: leave it to the backfill.
          await this.run(
            graph,
            `MATCH (n) WHERE ID(n) = $nid SET n.embedding_status = 'pending', n.embedding_fingerprint = NULL`,
            {
              nid: r.nid,
            },
          );
          continue;
        }
        await this.run(graph, `MATCH (n) WHERE ID(n) = $nid SET n.content_hash = $hash, n.embedding_status = 'done'`, {
          nid: r.nid,
          hash,
        });
        await this.registerRef(r.id, graph, r.nid, fingerprint, hash);
        adopted++;
      }
    }
    return adopted;
  }

  /** Embedding counts of nodes written by other tools, per graph and (first) label: each node once. */
  async foreignCounts(fingerprint: string): Promise<ForeignCount[]> {
    const out: ForeignCount[] = [];
    for (const graph of await this.targetGraphs()) {
      const rows = await this.run<{ label: string; state: string; n: number }>(
        graph,
        `MATCH (n) WHERE ${this.candidateWhere('n', graph === this.o.graph)}
         WITH n, CASE
           WHEN n.${this.E} IS NOT NULL AND n.embedding_fingerprint = $fp THEN 'done'
           WHEN n.embedding_status = 'failed' AND n.attempt_fingerprint = $fp THEN 'failed'
           ELSE 'pending' END AS state
         RETURN labels(n)[0] AS label, state, count(n) AS n`,
        { fp: fingerprint },
        'read',
      );
      const labels = new Map<string, ForeignCount>();
      for (const r of rows) {
        const c = labels.get(r.label) ?? { graph, label: r.label, pending: 0, done: 0, failed: 0 };
        c[r.state as 'pending' | 'done' | 'failed'] += r.n;
        labels.set(r.label, c);
      }
      out.push(...labels.values());
    }
    return out;
  }

  // ---------------------------------------------------------------- helpers

  private toRecord(r: Row): MemoryRecord {
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

  private vectorOf(r: Row): StoredVector | null {
    if (r.status !== 'done' || !r.fingerprint || !Array.isArray(r.embedding)) return null;
    return { vector: Float32Array.from(r.embedding), fingerprint: r.fingerprint };
  }
}

/** The columns both foreign-node queries return. */
interface ForeignRow {
  nid: number;
  id: string;
  labels: string[];
  status: string | null;
  attempts: number | null;
  error: string | null;
  created_at: string | null;
  fingerprint?: string | null;
}

/** A node written by another tool, as a memory: namespace = its graph, tags = its labels. */
function foreignRecord(graph: string, r: ForeignRow, text: string, seq: number, status: EmbeddingStatus): MemoryRecord {
  return {
    id: r.id,
    namespace: graph,
    text,
    contentHash: contentHash(text),
    metadata: { graph, labels: r.labels, node_id: r.nid },
    tags: r.labels,
    createdAt: r.created_at ?? '',
    updatedAt: r.created_at ?? '',
    seq,
    embedding: {
      status,
      fingerprint: status === 'done' ? (r.fingerprint ?? null) : null,
      attempts: r.attempts ?? 0,
      lastError: r.error,
    },
    origin: { graph, nodeId: r.nid, labels: r.labels },
  };
}

function checkIdentifier(name: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new MemoryError('INVALID_INPUT', `"${name}" is not a plain identifier`, {
      hint: 'graph and label names are letters, digits and _',
    });
  }
  return name;
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
