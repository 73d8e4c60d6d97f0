// FalkorDB as the store: memories are nodes, shared by every server process that points at
// the same FalkorDB.
//
// The home graph (FALKORDB_GRAPH) holds our memory nodes (FALKORDB_LABEL), one sequence
// counter, a deletion log and a reference node per memory that lives elsewhere. Every write
// bumps the counter inside the same query (a FalkorDB query is atomic), so sequence order is
// commit order, exactly as in the SQLite store, and the index manager catches up the same way.
// Nodes written by other tools are the `foreign` capability (foreign-nodes.ts).
//
// Names of graphs, labels and properties come from config and are checked against a strict
// identifier pattern before they are put inside a query; every value is a query parameter.
import { MemoryError } from '../../shared/errors.js';
import { isIdentifier } from '../../shared/identifier.js';
import type { Logger } from '../../shared/logger.js';
import { contentHash } from '../content-hash.js';
import { embeddingColumns } from '../embedding-state.js';
import { statsFromCounts } from '../stats.js';
import type {
  EmbeddingWrite,
  BackfillScope,
  ListingCursor,
  ListingPage,
  ChangeEvent,
  ChangePage,
  EmbeddingCount,
  EmbeddingFailure,
  ListQuery,
  MemoryPatch,
  MemoryRecord,
  MemoryStore,
  MemoryWrite,
  Origin,
  RecordFilter,
  StoreStats,
  StoredVector,
} from '../types.js';
import { FalkorConnection } from './connection.js';
import {
  COUNTER,
  DELETION,
  INTERNAL_LABELS,
  REF,
  bumpCounter,
  memoryFields,
  q,
  toRecord,
  vectorOf,
  type MemoryRow,
} from './cypher.js';
import { FalkorVectorSearch } from './vector-search.js';
import { VectorIndexes } from './vector-indexes.js';
import { ForeignNodeStore, type RefRow } from './foreign-nodes.js';
import { FOLDED, FalkorKeywordIndex, fold } from './fulltext.js';
import { filterCypher } from './filter-cypher.js';
import { dupKey } from '../dup-key.js';

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

/** Property indexes of the home graph. */
const SCHEMA: readonly [string, string][] = [
  [DELETION, 'seq'],
  [REF, 'memory_id'],
  [REF, 'seq'],
  [COUNTER, 'name'],
];

/** Counts a failed attempt on node `n`; marks it failed when permanent or out of attempts. */
const FAILURE_SET = `SET n.embedding_attempts = coalesce(n.embedding_attempts, 0) + 1, n.embedding_error = $error,
  n.embedding_status = CASE WHEN $permanent OR coalesce(n.embedding_attempts, 0) + 1 >= $max
    THEN 'failed' ELSE coalesce(n.embedding_status, 'pending') END,
  n.attempt_fingerprint = $fp`;

export class FalkorDBStore implements MemoryStore {
  readonly kind = 'falkordb';
  readonly location: string;
  readonly foreign: ForeignNodeStore;
  readonly keyword: FalkorKeywordIndex;
  /** Vector indexes for Cypher users (db.idx.vector.queryNodes) on every label vectors are written to. */
  readonly vectorIndexes: VectorIndexes;
  /** Search by those indexes, for instances that keep no local index (MEMORY_SEARCH_INDEX=falkordb). */
  readonly vectorSearch: FalkorVectorSearch;
  private readonly db: FalkorConnection;
  private readonly graph: string;
  private readonly label: string;
  private readonly embeddingProperty: string;

  constructor(options: FalkorDBStoreOptions) {
    const textProperty = options.textProperty ?? 'text';
    this.embeddingProperty = options.embeddingProperty ?? 'embedding';
    this.graph = options.graph;
    this.label = options.label;
    for (const [what, name] of [
      ['graph', options.graph],
      ['label', options.label],
      ['text property', textProperty],
      ['embedding property', this.embeddingProperty],
      ...(options.backfillGraphs ?? []).map((g) => ['backfill graph', g] as const),
      ...(options.backfillLabels ?? []).map((l) => ['backfill label', l] as const),
    ] as const) {
      if (!isIdentifier(name) || INTERNAL_LABELS.includes(name)) {
        throw new MemoryError('CONFIG_INVALID', `FalkorDB ${what} "${name}" is not a plain identifier`);
      }
    }
    this.db = new FalkorConnection({
      url: options.url,
      password: options.password,
      timeoutMs: options.timeoutMs ?? 10_000,
      logger: options.logger,
      prepare: (run) => this.ensureSchema(run),
    });
    this.vectorIndexes = new VectorIndexes(this.db, options.logger);
    this.foreign = new ForeignNodeStore(this.db, this.vectorIndexes, {
      home: options.graph,
      label: options.label,
      textProperty,
      embeddingProperty: this.embeddingProperty,
      backfillGraphs: options.backfillGraphs,
      backfillLabels: options.backfillLabels,
    });
    this.vectorSearch = new FalkorVectorSearch(this.db, this.vectorIndexes, {
      home: options.graph,
      label: options.label,
      property: this.embeddingProperty,
    });
    this.keyword = new FalkorKeywordIndex(this.db, options.graph, options.label);
    this.location = `${this.db.where} graph ${options.graph}`;
  }

  /** Starts connecting and returns at once: the MCP handshake must not wait for FalkorDB. */
  async open(): Promise<void> {
    this.db.open();
  }

  close(): Promise<void> {
    return this.db.close();
  }

  private async ensureSchema(run: (graph: string, query: string) => Promise<void>): Promise<void> {
    const indexes: readonly [string, string][] = [
      [this.label, 'memory_id'],
      [this.label, 'seq'],
      [this.label, 'embedding_status'],
      [this.label, 'dup_key'],
      // No index on created_at: with one, FalkorDB 4.16 answered range conditions on it wrongly once
      // the query had run before with other bounds (pages repeated; a createdBefore bound ignored).
      ...SCHEMA,
    ];
    const statements = [
      ...indexes.map(([label, prop]) => `CREATE INDEX FOR (n:${q(label)}) ON (n.${q(prop)})`),
      FalkorKeywordIndex.schema(this.label),
    ];
    for (const statement of statements) {
      try {
        await run(this.graph, statement);
      } catch (err) {
        if (!/already (indexed|exists)/i.test(err instanceof Error ? err.message : String(err))) throw err;
      }
    }
  }

  private ensureVectorIndex(v: StoredVector): Promise<void> {
    return this.vectorIndexes.ensure(this.graph, this.label, this.embeddingProperty, v.vector.length, v.fingerprint);
  }

  private get L(): string {
    return q(this.label);
  }

  private get E(): string {
    return q(this.embeddingProperty);
  }

  private fields(alias: string, withEmbedding = false): string {
    return memoryFields(alias, this.embeddingProperty, withEmbedding);
  }

  /** Refuses writes to ids that name nodes of other tools. */
  private async refuseForeign(ids: readonly string[], hint: string): Promise<void> {
    const [ref] = await this.foreign.refs(ids);
    if (ref) {
      throw new MemoryError(
        'INVALID_INPUT',
        `memory ${ref.id} is a node of graph "${ref.graph}" written by another tool`,
        {
          hint,
        },
      );
    }
  }

  async upsert(writes: readonly MemoryWrite[]): Promise<MemoryRecord[]> {
    if (writes.length === 0) return [];
    const ids = writes.map((w) => w.id);
    await this.refuseForeign(ids, 'change it in its own graph, or store under another id');
    const vector = writes.find((w) => w.embedding)?.embedding; // one model per batch
    if (vector) await this.ensureVectorIndex(vector);
    // Every write of a vector first sets the property to NULL in a clause of its own: this FalkorDB
    // ignores a SET of a vector with fractional components over one of the same dimension
    // (property and vector index keep the old vector; the store contract tests it).
    const now = new Date().toISOString();
    const items = writes.map((w) => ({
      id: w.id,
      namespace: w.namespace,
      text: w.text,
      folded: fold(w.text),
      dup: dupKey(w.text),
      hash: contentHash(w.text),
      metadata: JSON.stringify(w.metadata),
      tags: w.tags,
      embedding: w.embedding ? [...w.embedding.vector] : null,
      ...embeddingColumns(w.embedding, w.embeddingError),
      created: w.times?.createdAt ?? null,
      updated: w.times?.updatedAt ?? null,
    }));
    await this.db.run(
      this.graph,
      `${bumpCounter('size($items)')}
       WITH c.value - size($items) AS base
       UNWIND range(0, size($items) - 1) AS i
       WITH base + i + 1 AS seq, $items[i] AS item
       MERGE (m:${this.L} {memory_id: item.id})
       ON CREATE SET m.created_at = $now
       SET m.${this.E} = NULL
       WITH m, item, seq
       SET m.namespace = item.namespace, m.text = item.text, m.${FOLDED} = item.folded, m.dup_key = item.dup, m.content_hash = item.hash,
           m.metadata = item.metadata, m.tags = item.tags, m.seq = seq,
           m.created_at = coalesce(item.created, m.created_at), m.updated_at = coalesce(item.updated, $now),
           m.${this.E} = CASE WHEN item.embedding IS NULL THEN NULL ELSE vecf32(item.embedding) END,
           m.embedding_fingerprint = item.fingerprint, m.embedding_status = item.status,
           m.embedding_attempts = item.attempts, m.embedding_error = item.error, m.attempt_fingerprint = NULL`,
      { items, now },
    );
    return this.get(ids);
  }

  async patch(id: string, patch: MemoryPatch): Promise<MemoryRecord | null> {
    const [current] = await this.db.run<{ hash: string }>(
      this.graph,
      `MATCH (m:${this.L} {memory_id: $id}) RETURN m.content_hash AS hash`,
      { id },
      'read',
    );
    if (!current) {
      await this.refuseForeign(
        [id],
        'change it in its own graph; the backfill re-embeds it when its embedding is cleared',
      );
      return null;
    }
    if (patch.text !== undefined && contentHash(patch.text) !== current.hash && patch.embedding === undefined) {
      throw new Error('patch: a text change needs the new embedding (or null)');
    }
    const sets: string[] = ['m.updated_at = $now', 'm.seq = seq'];
    const params: Record<string, unknown> = { id, now: new Date().toISOString() };
    if (patch.text !== undefined) {
      sets.push('m.text = $text', `m.${FOLDED} = $folded`, 'm.dup_key = $dup', 'm.content_hash = $hash');
      params['dup'] = dupKey(patch.text);
      params['text'] = patch.text;
      params['folded'] = fold(patch.text);
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
    if (patch.embedding) await this.ensureVectorIndex(patch.embedding);
    if (patch.embedding !== undefined) {
      sets.push(
        `m.${this.E} = CASE WHEN $embedding IS NULL THEN NULL ELSE vecf32($embedding) END`,
        'm.embedding_fingerprint = $fingerprint',
        'm.embedding_status = $status',
        'm.embedding_attempts = $attempts',
        'm.embedding_error = $error',
        'm.attempt_fingerprint = NULL',
      );
      Object.assign(params, {
        embedding: patch.embedding ? [...patch.embedding.vector] : null,
        ...embeddingColumns(patch.embedding, patch.embeddingError),
      });
    }
    const done = await this.db.run<{ id: string }>(
      this.graph,
      `MATCH (m:${this.L} {memory_id: $id})
       ${bumpCounter('1')}
       WITH m, c.value AS seq
       ${patch.embedding !== undefined ? `SET m.${this.E} = NULL WITH m, seq` : ''}
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
    const rows = await this.db.run<MemoryRow>(
      this.graph,
      `MATCH (m:${this.L}) WHERE m.memory_id IN $ids RETURN ${this.fields('m')}`,
      { ids: unique },
      'read',
    );
    const byId = new Map(rows.map((r) => [r.id, toRecord(r)]));
    const rest = unique.filter((id) => !byId.has(id));
    if (rest.length > 0) {
      for (const f of await this.foreign.records(await this.foreign.refs(rest), false)) byId.set(f.record.id, f.record);
    }
    return unique.map((id) => byId.get(id)).filter((r): r is MemoryRecord => r !== undefined);
  }

  async delete(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const unique = [...new Set(ids)];
    const own = await this.db.run<{ id: string }>(
      this.graph,
      `MATCH (m:${this.L}) WHERE m.memory_id IN $ids
       WITH collect(m) AS ms
       ${bumpCounter('size(ms)')}
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
    const refs = await this.foreign.refs(unique.filter((id) => !deleted.has(id)));
    for (const id of await this.foreign.deleteNodes(refs)) deleted.add(id);
    return unique.filter((id) => deleted.has(id));
  }

  async setEmbedding(id: string, hash: string, vector: StoredVector, origin?: Origin): Promise<boolean> {
    const [done] = await this.setEmbeddings([{ id, contentHash: hash, vector, origin }]);
    return done === true;
  }

  /** One query for our own nodes of the batch, three per graph for other tools' nodes. */
  async setEmbeddings(items: readonly EmbeddingWrite[]): Promise<boolean[]> {
    const done = new Set<string>();
    const own = items.filter((i) => !i.origin);
    if (own.length > 0) {
      await this.ensureVectorIndex(own[0]!.vector);
      // Each item takes a number; one whose text changed meanwhile leaves a gap in the sequence.
      const rows = await this.db.run<{ id: string }>(
        this.graph,
        `${bumpCounter('size($items)')}
         WITH c.value - size($items) AS base
         UNWIND range(0, size($items) - 1) AS i
         WITH base + i + 1 AS seq, $items[i] AS item
         MATCH (m:${this.L} {memory_id: item.id}) WHERE m.content_hash = item.hash
         SET m.${this.E} = NULL
         WITH m, item, seq
         SET m.${this.E} = vecf32(item.vector), m.embedding_fingerprint = item.fp, m.embedding_status = 'done',
             m.embedding_error = NULL, m.attempt_fingerprint = NULL,
             m.embedding_attempts = coalesce(m.embedding_attempts, 0) + 1, m.seq = seq
         RETURN m.memory_id AS id`,
        {
          items: own.map((i) => ({
            id: i.id,
            hash: i.contentHash,
            vector: [...i.vector.vector],
            fp: i.vector.fingerprint,
          })),
        },
      );
      for (const r of rows) done.add(r.id);
    }
    const foreign = items.filter((i) => i.origin);
    if (foreign.length > 0) for (const id of await this.foreign.setEmbeddings(foreign)) done.add(id);
    return items.map((i) => done.has(i.id));
  }

  async recordEmbeddingFailure(id: string, hash: string, failure: EmbeddingFailure, origin?: Origin): Promise<void> {
    if (origin) return this.foreign.recordFailure(id, failure, origin, FAILURE_SET);
    await this.db.run(this.graph, `MATCH (n:${this.L} {memory_id: $id}) WHERE n.content_hash = $hash ${FAILURE_SET}`, {
      id,
      hash,
      error: failure.error,
      permanent: failure.permanent,
      max: failure.maxAttempts,
      fp: failure.fingerprint,
    });
  }

  async listNeedingEmbedding(
    fingerprint: string,
    limit: number,
    scope: BackfillScope = {},
    cursor: ListingCursor = {},
  ): Promise<ListingPage> {
    // Our own memories take part unless the scope names another graph or a foreign label.
    const ownInScope =
      (scope.graph === undefined || scope.graph === this.graph) &&
      (scope.label === undefined || scope.label === this.label);
    let own: MemoryRecord[] = [];
    if (ownInScope) {
      const rows = await this.db.run<MemoryRow>(
        this.graph,
        `MATCH (m:${this.L})
         WHERE (m.embedding_status = 'pending'
            OR (m.embedding_status = 'done' AND m.embedding_fingerprint <> $fp)
            OR (m.embedding_status = 'failed' AND (m.attempt_fingerprint IS NULL OR m.attempt_fingerprint <> $fp)))
           AND ($namespace IS NULL OR m.namespace = $namespace) AND ($before IS NULL OR m.seq < $before)
         RETURN ${this.fields('m')} ORDER BY m.seq DESC LIMIT $limit`,
        { fp: fingerprint, limit, namespace: scope.namespace ?? null, before: cursor.seq ?? null },
        'read',
      );
      own = rows.map(toRecord);
    }
    if (own.length >= limit || (scope.label !== undefined && scope.label === this.label)) {
      return { records: own, walked: [] };
    }
    const foreign = await this.foreign.listNeedingEmbedding(fingerprint, limit - own.length, scope, cursor.nodes);
    return { records: [...own, ...foreign.records], walked: foreign.walked };
  }

  async embeddingCounts(fingerprint: string): Promise<EmbeddingCount[]> {
    const rows = await this.db.run<{ namespace: string; done: number; failed: number; total: number }>(
      this.graph,
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
      this.db.run<MemoryRow>(
        this.graph,
        `MATCH (m:${this.L}) WHERE m.seq > $after RETURN ${this.fields('m', true)} ORDER BY m.seq LIMIT $limit`,
        { after: afterSeq, limit },
        'read',
      ),
      this.db.run<{ id: string; seq: number }>(
        this.graph,
        `MATCH (d:${DELETION}) WHERE d.seq > $after RETURN d.memory_id AS id, d.seq AS seq ORDER BY d.seq LIMIT $limit`,
        { after: afterSeq, limit },
        'read',
      ),
      this.foreign.refsSince(afterSeq, limit),
    ]);
    let toSeq = head;
    for (const list of [ups, dels, refs] as { seq: number | null }[][]) {
      if (list.length === limit) toSeq = Math.min(toSeq, list[list.length - 1]!.seq!);
    }
    const events: ChangeEvent[] = [];
    for (const r of ups) {
      if (r.seq! > toSeq) break;
      events.push({ seq: r.seq!, kind: 'upsert', record: toRecord(r), vector: vectorOf(r) });
    }
    for (const d of dels) if (d.seq <= toSeq) events.push({ seq: d.seq, kind: 'delete', id: d.id });
    const inRange: RefRow[] = refs.filter((r) => r.seq <= toSeq);
    const found = new Map((await this.foreign.records(inRange, true)).map((f) => [f.record.id, f]));
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

  async list(query: ListQuery): Promise<MemoryRecord[]> {
    const { conditions, params } = filterCypher(query.filter, 'm');
    const newest = query.order === 'newest';
    if (query.after) {
      // One string key: (created_at, id) in order, since created_at is fixed-width ISO 8601.
      conditions.push(`m.created_at + ' ' + m.memory_id ${newest ? '<' : '>'} $after`);
      params['after'] = `${query.after.createdAt} ${query.after.id}`;
    }
    const dir = newest ? 'DESC' : 'ASC';
    const rows = await this.db.run<MemoryRow>(
      this.graph,
      `MATCH (m:${this.L}) ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}
       RETURN ${this.fields('m')} ORDER BY m.created_at ${dir}, m.memory_id ${dir} LIMIT $limit`,
      { ...params, limit: query.limit },
      'read',
    );
    return rows.map(toRecord);
  }

  async countMatching(filter: RecordFilter): Promise<number> {
    const { conditions, params } = filterCypher(filter, 'm');
    const [row] = await this.db.run<{ n: number }>(
      this.graph,
      `MATCH (m:${this.L}) ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''} RETURN count(m) AS n`,
      params,
      'read',
    );
    return row?.n ?? 0;
  }

  async duplicatesOf(namespace: string, keys: readonly string[]): Promise<Map<string, string>> {
    if (keys.length === 0) return new Map();
    const rows = await this.db.run<{ key: string; id: string }>(
      this.graph,
      `MATCH (m:${this.L}) WHERE m.dup_key IN $keys AND m.namespace = $namespace
       RETURN m.dup_key AS key, min(m.memory_id) AS id`,
      { keys: [...keys], namespace },
      'read',
    );
    return new Map(rows.map((r) => [r.key, r.id]));
  }

  async embeddedIds(fingerprint: string): Promise<string[]> {
    const own = await this.db.run<{ id: string }>(
      this.graph,
      `MATCH (m:${this.L}) WHERE m.embedding_status = 'done' AND m.embedding_fingerprint = $fp RETURN m.memory_id AS id`,
      { fp: fingerprint },
      'read',
    );
    return [...own.map((r) => r.id), ...(await this.foreign.embeddedIds(fingerprint))];
  }

  async vectorsOf(
    ids: readonly string[],
    fingerprint: string,
  ): Promise<{ id: string; contentHash: string; vector: Float32Array }[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.run<MemoryRow>(
      this.graph,
      `MATCH (m:${this.L}) WHERE m.memory_id IN $ids RETURN ${this.fields('m', true)}`,
      { ids: [...ids] },
      'read',
    );
    const out: { id: string; contentHash: string; vector: Float32Array }[] = [];
    for (const r of rows) {
      const v = vectorOf(r);
      if (v && v.fingerprint === fingerprint)
        out.push({ id: r.id, contentHash: toRecord(r).contentHash, vector: v.vector });
    }
    const found = new Set(out.map((o) => o.id));
    const refs = await this.foreign.refs(ids.filter((id) => !found.has(id)));
    for (const f of await this.foreign.records(refs, true)) {
      if (f.vector && f.vector.fingerprint === fingerprint) {
        out.push({ id: f.record.id, contentHash: f.record.contentHash, vector: f.vector.vector });
      }
    }
    return out;
  }

  async headSeq(): Promise<number> {
    const [row] = await this.db.run<{ value: number }>(
      this.graph,
      `MATCH (c:${COUNTER} {name: 'seq'}) RETURN c.value AS value`,
      {},
      'read',
    );
    return row?.value ?? 0;
  }

  async count(): Promise<number> {
    const [row] = await this.db.run<{ n: number }>(this.graph, `MATCH (m:${this.L}) RETURN count(m) AS n`, {}, 'read');
    return row?.n ?? 0;
  }

  async stats(): Promise<StoreStats> {
    const rows = await this.db.run<{ status: string; n: number }>(
      this.graph,
      `MATCH (m:${this.L}) RETURN m.embedding_status AS status, count(m) AS n`,
      {},
      'read',
    );
    return statsFromCounts(rows, await this.headSeq());
  }
}
