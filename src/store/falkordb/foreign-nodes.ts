// Nodes written by other tools (any graph, any label, with a text property) become memories
// when the backfill embeds them: the vector is written back to the node (vecf32), the node gets
// a stable `memory_id`, and only after that write completes is a `VmmRef` registered in the
// home graph with the next sequence number. A reader that sees the reference therefore always
// finds the embedded node. References are reconciled on every backfill run: nodes their tool
// deleted leave the index, nodes whose text changed are re-embedded.
import type { VectorIndexes } from './vector-indexes.js';
import type { EmbeddingWrite } from '../types.js';
import { isIdentifier } from '../../shared/identifier.js';
import { contentHash } from '../content-hash.js';
import type {
  BackfillScope,
  EmbeddingFailure,
  EmbeddingStatus,
  ForeignCount,
  ForeignNodes,
  ListingPage,
  MemoryRecord,
  Origin,
  StoredVector,
} from '../types.js';
import type { FalkorConnection } from './connection.js';
import { COUNTER, DELETION, INTERNAL_LABELS, REF, bumpCounter, checkIdentifier, q, vectorOf } from './cypher.js';

export interface ForeignOptions {
  home: string;
  label: string;
  textProperty: string;
  embeddingProperty: string;
  backfillGraphs?: readonly string[] | undefined;
  backfillLabels?: readonly string[] | undefined;
}

export interface RefRow {
  id: string;
  graph: string;
  node_id: number;
  seq: number;
  fingerprint: string | null;
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

export class ForeignNodeStore implements ForeignNodes {
  constructor(
    private readonly db: FalkorConnection,
    private readonly vectorIndexes: VectorIndexes,
    private readonly o: ForeignOptions,
  ) {}

  private get E(): string {
    return q(this.o.embeddingProperty);
  }

  private get T(): string {
    return q(this.o.textProperty);
  }

  /** Graphs the backfill looks at: the configured ones, or every graph but other servers' homes. */
  async targetGraphs(): Promise<string[]> {
    if (this.o.backfillGraphs) return [...this.o.backfillGraphs];
    const out: string[] = [];
    for (const g of (await this.db.listGraphs()).filter(isIdentifier)) {
      if (g === this.o.home) {
        out.push(g);
        continue;
      }
      // Another vector-memory-mcp's home graph holds its own memories: never embed those.
      const [home] = await this.db.run<{ n: number }>(g, `MATCH (c:${COUNTER}) RETURN count(c) AS n`, {}, 'read');
      if ((home?.n ?? 0) === 0) out.push(g);
    }
    return out;
  }

  /** The condition that makes a node a candidate: text, not ours, in the configured labels. */
  private candidateWhere(alias: string, isHome: boolean, scanned = false): string {
    const t = `${alias}.${this.T}`;
    const parts = [`typeOf(${t}) = 'String'`, `trim(${t}) <> ''`];
    for (const l of INTERNAL_LABELS) parts.push(`NOT ${alias}:${q(l)}`);
    if (isHome) parts.push(`NOT ${alias}:${q(this.o.label)}`);
    // (A listing that scans by label has applied BACKFILL_LABELS already.)
    if (this.o.backfillLabels && !scanned) {
      parts.push(`(${this.o.backfillLabels.map((l) => `${alias}:${q(l)}`).join(' OR ')})`);
    }
    return parts.join(' AND ');
  }

  /**
   * The queries listing one graph's nodes that need an embedding, newest first. With labels
   * (BACKFILL_LABELS, or a run scoped to one label), one query per label scans only that label's
   * nodes; otherwise every node of the graph is scanned. `windowed`: only node ids in [$lo, $hi),
   * which FalkorDB seeks (NodeByIdSeek, Node By Label and ID Scan) instead of scanning the graph.
   */
  listingQueries(isHome: boolean, scope: BackfillScope, windowed = false): string[] {
    const labels =
      scope.label !== undefined
        ? this.o.backfillLabels && !this.o.backfillLabels.includes(scope.label)
          ? []
          : [checkIdentifier(scope.label)]
        : this.o.backfillLabels;
    const query = (match: string, scanned: boolean) =>
      `MATCH ${match} WHERE ${windowed ? 'ID(n) >= $lo AND ID(n) < $hi AND ' : ''}${this.candidateWhere('n', isHome, scanned)}
         AND (n.${this.E} IS NULL OR n.embedding_fingerprint IS NULL OR n.embedding_fingerprint <> $fp)
         AND NOT (coalesce(n.embedding_status, '') = 'failed' AND coalesce(n.attempt_fingerprint, '') = $fp)
       WITH n ORDER BY ID(n) DESC LIMIT $limit
       SET n.memory_id = coalesce(n.memory_id, randomUUID()), n.memory_created_at = coalesce(n.memory_created_at, $now)
       RETURN ID(n) AS nid, n.memory_id AS id, labels(n) AS labels, n.${this.T} AS text,
              n.embedding_status AS status, n.embedding_attempts AS attempts, n.embedding_error AS error,
              n.memory_created_at AS created_at`;
    return labels ? labels.map((l) => query(`(n:${q(l)})`, true)) : [query('(n)', false)];
  }

  /**
   * Nodes needing an embedding, graph after graph, each graph newest first and below its cursor
   * (`below[graph]`, a node id: the backfill run's descent). A graph without one is listed from
   * its top by one scan; below a cursor, windows of node ids are sought from it downwards (a
   * scan of the graph per page made a run quadratic: 76 ms a page at 100k nodes).
   */
  async listNeedingEmbedding(
    fingerprint: string,
    limit: number,
    scope: BackfillScope,
    below: Readonly<Record<string, number>> = {},
  ): Promise<ListingPage> {
    const records: MemoryRecord[] = [];
    const walked: string[] = [];
    const graphs = (await this.targetGraphs()).filter(
      (g) =>
        (scope.graph === undefined || g === scope.graph) && (scope.namespace === undefined || g === scope.namespace),
    );
    for (const graph of graphs) {
      if (records.length >= limit) break;
      const want = limit - records.length;
      const rows = await this.listGraph(graph, fingerprint, want, scope, below[graph]);
      for (const r of rows)
        records.push(foreignRecord(graph, r, r.text, 0, r.status === 'failed' ? 'failed' : 'pending'));
      if (rows.length < want) walked.push(graph);
    }
    return { records, walked };
  }

  private async listGraph(
    graph: string,
    fingerprint: string,
    want: number,
    scope: BackfillScope,
    below: number | undefined,
  ): Promise<(ForeignRow & { text: string })[]> {
    const queries = this.listingQueries(graph === this.o.home, scope, below !== undefined);
    const page = async (limit: number, window: { lo: number; hi: number } | object) => {
      const found = new Map<number, ForeignRow & { text: string }>();
      for (const query of queries) {
        const rows = await this.db.run<ForeignRow & { text: string }>(graph, query, {
          fp: fingerprint,
          limit,
          now: new Date().toISOString(),
          ...window,
        });
        for (const r of rows) found.set(r.nid, r); // (a node with two of the labels comes twice)
      }
      return [...found.values()].sort((a, b) => b.nid - a.nid).slice(0, limit);
    };
    if (below === undefined) return page(want, {});
    const out: (ForeignRow & { text: string })[] = [];
    // Windows double as they come back short, so a sparse graph costs a few seeks, not one per page.
    for (let hi = below, width = Math.max(1024, 4 * want); hi > 0 && out.length < want; width *= 2) {
      const lo = Math.max(0, hi - width);
      out.push(...(await page(want - out.length, { lo, hi })));
      hi = lo;
    }
    return out;
  }

  /**
   * Embeddings for nodes of other graphs, per graph: one read of their texts, one write of the
   * vectors (where the text is still the one embedded), one query giving each written node its
   * sequence number (only after the node holds its vector). Returns the ids written.
   */
  async setEmbeddings(items: readonly EmbeddingWrite[]): Promise<string[]> {
    const byGraph = new Map<string, EmbeddingWrite[]>();
    for (const i of items) if (i.origin) byGraph.set(i.origin.graph, [...(byGraph.get(i.origin.graph) ?? []), i]);
    const written: string[] = [];
    for (const [graph, batch] of byGraph) {
      const texts = await this.db.run<{ id: string; text: unknown }>(
        graph,
        // item.nid through WITH: FalkorDB seeks by id then (ID(n) = item.nid scans every node).
        `UNWIND $items AS item WITH item, item.nid AS nid
         MATCH (n) WHERE ID(n) = nid AND n.memory_id = item.id
         RETURN n.memory_id AS id, n.${this.T} AS text`,
        { items: batch.map((i) => ({ id: i.id, nid: i.origin!.nodeId })) },
        'read',
      );
      const textOf = new Map(texts.map((r) => [r.id, r.text]));
      const current = batch.filter((i) => {
        const t = textOf.get(i.id);
        return typeof t === 'string' && contentHash(t) === i.contentHash;
      });
      if (current.length === 0) continue;
      const labels = new Set(current.flatMap((i) => i.origin!.labels));
      for (const label of labels) {
        const v = current[0]!.vector;
        await this.vectorIndexes.ensure(graph, label, this.o.embeddingProperty, v.vector.length, v.fingerprint);
      }
      const rows = await this.db.run<{ id: string }>(
        graph,
        `UNWIND $items AS item WITH item, item.nid AS nid
         MATCH (n) WHERE ID(n) = nid AND n.memory_id = item.id AND n.${this.T} = item.text
         SET n.${this.E} = NULL
         WITH n, item
         SET n.${this.E} = vecf32(item.vector), n.embedding_fingerprint = item.fp, n.embedding_status = 'done',
             n.embedding_error = NULL, n.attempt_fingerprint = NULL, n.content_hash = item.hash,
             n.embedding_attempts = coalesce(n.embedding_attempts, 0) + 1
         RETURN n.memory_id AS id`,
        {
          items: current.map((i) => ({
            id: i.id,
            nid: i.origin!.nodeId,
            text: textOf.get(i.id),
            vector: [...i.vector.vector],
            fp: i.vector.fingerprint,
            hash: i.contentHash,
          })),
        },
      );
      const ok = new Set(rows.map((r) => r.id));
      const refs = current.filter((i) => ok.has(i.id));
      if (refs.length === 0) continue;
      // Only now, with the nodes written, do the changes get their sequence numbers.
      await this.db.run(
        this.o.home,
        `${bumpCounter('size($refs)')}
         WITH c.value - size($refs) AS base
         UNWIND range(0, size($refs) - 1) AS i
         WITH base + i + 1 AS seq, $refs[i] AS ref
         MERGE (r:${REF} {memory_id: ref.id})
         SET r.graph = ref.graph, r.node_id = ref.nid, r.seq = seq, r.fingerprint = ref.fp, r.content_hash = ref.hash`,
        {
          refs: refs.map((i) => ({
            id: i.id,
            graph,
            nid: i.origin!.nodeId,
            fp: i.vector.fingerprint,
            hash: i.contentHash,
          })),
        },
      );
      written.push(...refs.map((i) => i.id));
    }
    return written;
  }

  async recordFailure(id: string, failure: EmbeddingFailure, origin: Origin, set: string): Promise<void> {
    await this.db.run(origin.graph, `MATCH (n) WHERE ID(n) = $nid AND n.memory_id = $id ${set}`, {
      id,
      nid: origin.nodeId,
      error: failure.error,
      permanent: failure.permanent,
      max: failure.maxAttempts,
      fp: failure.fingerprint,
    });
  }

  /** Gives a node of another graph the next sequence number, so every index picks it up. */
  private async registerRef(id: string, graph: string, nodeId: number, fingerprint: string, hash: string) {
    await this.db.run(
      this.o.home,
      `${bumpCounter('1')}
       WITH c.value AS seq
       MERGE (r:${REF} {memory_id: $id})
       SET r.graph = $graph, r.node_id = $nid, r.seq = seq, r.fingerprint = $fp, r.content_hash = $hash`,
      { id, graph, nid: nodeId, fp: fingerprint, hash },
    );
  }

  async refs(ids: readonly string[]): Promise<RefRow[]> {
    if (ids.length === 0) return [];
    return this.db.run<RefRow>(
      this.o.home,
      `MATCH (r:${REF}) WHERE r.memory_id IN $ids
       RETURN r.memory_id AS id, r.graph AS graph, r.node_id AS node_id, r.seq AS seq, r.fingerprint AS fingerprint`,
      { ids: [...ids] },
      'read',
    );
  }

  /** References registered after `afterSeq`, in sequence order. */
  refsSince(afterSeq: number, limit: number): Promise<RefRow[]> {
    return this.db.run<RefRow>(
      this.o.home,
      `MATCH (r:${REF}) WHERE r.seq > $after
       RETURN r.memory_id AS id, r.graph AS graph, r.node_id AS node_id, r.seq AS seq, r.fingerprint AS fingerprint
       ORDER BY r.seq LIMIT $limit`,
      { after: afterSeq, limit },
      'read',
    );
  }

  async embeddedIds(fingerprint: string): Promise<string[]> {
    const rows = await this.db.run<{ id: string }>(
      this.o.home,
      `MATCH (r:${REF}) WHERE r.fingerprint = $fp RETURN r.memory_id AS id`,
      { fp: fingerprint },
      'read',
    );
    return rows.map((r) => r.id);
  }

  /** Removes a reference and logs the deletion, so every index drops the memory. */
  private async dropRef(id: string): Promise<void> {
    await this.db.run(
      this.o.home,
      `MATCH (r:${REF} {memory_id: $id})
       ${bumpCounter('1')}
       WITH r, c.value AS seq
       CREATE (:${DELETION} {memory_id: r.memory_id, seq: seq})
       DELETE r`,
      { id },
    );
  }

  /** Deletes referenced nodes in their own graphs, then their references; returns the ids deleted. */
  async deleteNodes(refs: readonly RefRow[]): Promise<string[]> {
    for (const ref of refs) {
      // The node written by another tool goes first, then its reference and the deletion record.
      await this.db.run(ref.graph, `MATCH (n) WHERE ID(n) = $nid AND n.memory_id = $id DETACH DELETE n`, {
        nid: ref.node_id,
        id: ref.id,
      });
      await this.dropRef(ref.id);
    }
    return refs.map((r) => r.id);
  }

  /** Reads referenced nodes from their graphs; nodes that are gone are left out. */
  async records(
    refs: readonly RefRow[],
    withVector: boolean,
  ): Promise<{ record: MemoryRecord; vector: StoredVector | null }[]> {
    const byGraph = new Map<string, RefRow[]>();
    for (const r of refs) byGraph.set(r.graph, [...(byGraph.get(r.graph) ?? []), r]);
    const out: { record: MemoryRecord; vector: StoredVector | null }[] = [];
    for (const [graph, list] of byGraph) {
      const rows = await this.db.run<ForeignRow & { text: unknown; embedding?: number[] | null }>(
        graph,
        `MATCH (n) WHERE ID(n) IN $nids
         RETURN ID(n) AS nid, n.memory_id AS id, labels(n) AS labels, n.${this.T} AS text,
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
          vector: withVector ? vectorOf({ ...r, status }) : null,
        });
      }
    }
    return out;
  }

  /**
   * Finds references whose node was deleted, or whose text changed, by the tool that owns it:
   * the first leave the index; the second are marked pending and re-embedded by the backfill.
   */
  async reconcile(fingerprint: string): Promise<{ removed: number; changed: number; adopted: number }> {
    const refs = await this.db.run<RefRow & { content_hash: string }>(
      this.o.home,
      `MATCH (r:${REF}) RETURN r.memory_id AS id, r.graph AS graph, r.node_id AS node_id, r.seq AS seq,
         r.fingerprint AS fingerprint, r.content_hash AS content_hash`,
      {},
      'read',
    );
    const present = new Map((await this.records(refs, false)).map((f) => [f.record.id, f.record]));
    let removed = 0;
    let changed = 0;
    for (const ref of refs) {
      const rec = present.get(ref.id);
      if (!rec) {
        await this.dropRef(ref.id);
        removed++;
      } else if (rec.contentHash !== ref.content_hash) {
        await this.markPending(ref.graph, ref.node_id);
        await this.dropRef(ref.id);
        changed++;
      }
    }
    const adopted = await this.adoptEmbedded(fingerprint, new Set(refs.map((r) => r.id)));
    return { removed, changed, adopted };
  }

  private async markPending(graph: string, nodeId: number): Promise<void> {
    await this.db.run(
      graph,
      `MATCH (n) WHERE ID(n) = $nid SET n.embedding_status = 'pending', n.embedding_fingerprint = NULL`,
      { nid: nodeId },
    );
  }

  /**
   * Registers nodes that already carry an embedding of the configured model but are not yet
   * memories: written by another process of ours that crashed before registering them, or by a
   * tool that uses the same model and marks it in `embedding_fingerprint`. They are not re-embedded.
   */
  private async adoptEmbedded(fingerprint: string, registered: Set<string>): Promise<number> {
    let adopted = 0;
    for (const graph of await this.targetGraphs()) {
      // Read first, write only to the nodes adopted: FalkorDB re-indexes a node's vector on any
      // SET to the node, leaving a deleted entry in the vector index that crowds out results of
      // db.idx.vector.queryNodes (a no-op SET on every pass grew the index without end).
      const rows = await this.db.run<{ nid: number; id: string | null; text: string; hash: string | null }>(
        graph,
        `MATCH (n) WHERE ${this.candidateWhere('n', graph === this.o.home)}
           AND n.${this.E} IS NOT NULL AND n.embedding_fingerprint = $fp
         RETURN ID(n) AS nid, n.memory_id AS id, n.${this.T} AS text, n.content_hash AS hash`,
        { fp: fingerprint },
        'read',
      );
      for (const r of rows) {
        if (r.id !== null && registered.has(r.id)) continue;
        if (r.id === null) {
          const [named] = await this.db.run<{ id: string }>(
            graph,
            `MATCH (n) WHERE ID(n) = $nid
             SET n.memory_id = coalesce(n.memory_id, randomUUID()), n.memory_created_at = coalesce(n.memory_created_at, $now)
             RETURN n.memory_id AS id`,
            { nid: r.nid, now: new Date().toISOString() },
          );
          if (!named) continue;
          r.id = named.id;
        }
        const hash = contentHash(r.text);
        if (r.hash !== null && r.hash !== hash) {
          await this.markPending(graph, r.nid); // embedded for an older text: left to the backfill
          continue;
        }
        await this.db.run(
          graph,
          `MATCH (n) WHERE ID(n) = $nid SET n.content_hash = $hash, n.embedding_status = 'done'`,
          { nid: r.nid, hash },
        );
        await this.registerRef(r.id, graph, r.nid, fingerprint, hash);
        adopted++;
      }
    }
    return adopted;
  }

  /** Embedding counts of nodes written by other tools, per graph and (first) label: each node once. */
  async counts(fingerprint: string): Promise<ForeignCount[]> {
    const out: ForeignCount[] = [];
    for (const graph of await this.targetGraphs()) {
      const rows = await this.db.run<{ label: string; state: string; n: number }>(
        graph,
        `MATCH (n) WHERE ${this.candidateWhere('n', graph === this.o.home)}
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
