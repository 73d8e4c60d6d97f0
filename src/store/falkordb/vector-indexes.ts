// FalkorDB vector indexes on every label and property the server writes vectors to (its own
// memory label and the backfill's targets), so that Cypher users can query them with
// db.idx.vector.queryNodes (which fails when no index exists). Made with the model's dimension
// and cosine similarity before the first vector of a (graph, label, property) is written, and
// searched with enough candidates to find the true nearest (VECTOR_INDEX_EF_RUNTIME).
//
// After a model change with another dimension, the old index stays until no node of the label
// holds a vector of another model: FalkorDB leaves a vector of the wrong dimension out of an
// index, so meanwhile Cypher queries find only the old model's nodes. Then the index is dropped
// and made again with the new dimension (one index never mixes two dimensions).
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { FalkorConnection } from './connection.js';
import { q } from './cypher.js';
import type { VectorIndexState } from '../types.js';

/**
 * Candidates an HNSW search keeps (FalkorDB's default is 10). Measured on 10,000 hash vectors
 * (dimension 384), recall@10 of queryNodes against exact search: 0.43 at 10, 0.78 at 40, 0.93 at
 * 100, 0.98 at 200 (0.38 -> 0.66 ms a query); writes cost the same at each.
 */
export const VECTOR_INDEX_EF_RUNTIME = 200;

interface IndexRow {
  label: string;
  properties: string[];
  types: Record<string, string[]>;
  options: Record<string, { dimension?: number }> | null;
  status?: string;
  info?: { numDocuments?: number; maxDocId?: number } | null;
}

/** How long a (graph, label, property) waiting for re-embedding goes before it is checked again. */
const RECHECK_MS = 30_000;

export class VectorIndexes {
  /** key -> the dimension made ready, or when a wait was last checked. */
  private readonly ready = new Map<string, number>();
  private readonly waiting = new Map<string, { at: number; dimension: number; fingerprint: string }>();
  private readonly seen = new Map<
    string,
    { graph: string; label: string; property: string; dimension: number; fingerprint: string }
  >();
  private readonly failures = new Map<string, string>();
  /** Grows each time this instance finds or makes an index ready (a new label to search). */
  readyCount = 0;

  constructor(
    private readonly db: FalkorConnection,
    private readonly logger?: Logger,
  ) {}

  /**
   * Makes sure the vector index for (graph, label, property) has `dimension`, before a vector of
   * model `fingerprint` is written there. Cheap after the first call (a map lookup). Never
   * throws: a failure is logged and reported by list(), and the write goes on.
   */
  async ensure(
    graph: string,
    label: string,
    property: string,
    dimension: number,
    fingerprint: string,
    recheck = false,
  ): Promise<void> {
    const key = `${graph}\u0000${label}\u0000${property}`;
    this.seen.set(key, { graph, label, property, dimension, fingerprint });
    if (!recheck && this.ready.get(key) === dimension) return;
    const wait = this.waiting.get(key);
    if (!recheck && wait && wait.dimension === dimension && Date.now() - wait.at < RECHECK_MS) return;
    try {
      const existing = await this.dimensionOf(graph, label, property);
      if (existing === dimension) {
        this.markReady(key, dimension);
      } else if (existing === null) {
        await this.create(graph, label, property, dimension);
        this.markReady(key, dimension);
        this.logger?.info('FalkorDB vector index created', { graph, label, property, dimension });
      } else {
        const others = await this.otherModelCount(graph, label, property, fingerprint);
        if (others > 0) {
          this.waiting.set(key, { at: Date.now(), dimension, fingerprint });
          return;
        }
        await this.db.run(graph, `DROP VECTOR INDEX FOR (n:${q(label)}) ON (n.${q(property)})`);
        await this.create(graph, label, property, dimension);
        this.waiting.delete(key);
        this.markReady(key, dimension);
        this.logger?.info('FalkorDB vector index recreated for the new dimension', {
          graph,
          label,
          property,
          from: existing,
          to: dimension,
        });
      }
      this.failures.delete(key);
    } catch (err) {
      this.failures.set(key, errorMessage(err));
      this.logger?.warn('FalkorDB vector index could not be made', {
        graph,
        label,
        property,
        error: errorMessage(err),
      });
    }
  }

  /** Every (graph, label, property) written to since start, with its index as FalkorDB holds it. */
  async list(): Promise<VectorIndexState[]> {
    const out: VectorIndexState[] = [];
    for (const [key, s] of this.seen) {
      // A wait for re-embedding may be over, or an index dropped by hand: look again now.
      if (this.waiting.has(key)) await this.ensure(s.graph, s.label, s.property, s.dimension, s.fingerprint, true);
      const failure = this.failures.get(key);
      let row: IndexRow | undefined;
      try {
        row = await this.row(s.graph, s.label, s.property);
      } catch (err) {
        out.push({ ...base(s), dimension: null, indexed: null, state: 'failed', detail: errorMessage(err) });
        continue;
      }
      const dimension = row?.options?.[s.property]?.dimension ?? null;
      const indexed = row?.info?.numDocuments ?? null;
      const wait = this.waiting.get(key);
      let state: VectorIndexState['state'] =
        dimension === s.dimension ? 'ready' : dimension === null ? 'missing' : 'failed';
      if (state === 'missing') this.ready.delete(key); // the next vector written makes it again
      let detail = failure;
      if (wait && dimension !== s.dimension) {
        state = 'waiting_for_reembedding';
        const others = await this.otherModelCount(s.graph, s.label, s.property, wait.fingerprint).catch(() => null);
        detail = `${others ?? '?'} nodes still hold another model's vector (dimension ${dimension}); recreated after they are re-embedded`;
      }
      out.push({ ...base(s), dimension, indexed, state, ...(detail !== undefined ? { detail } : {}) });
    }
    return out;
  }

  /** One index as FalkorDB holds it now, against the dimension wanted (no state kept). */
  async describe(graph: string, label: string, property: string, wanted: number): Promise<VectorIndexState> {
    const row = await this.row(graph, label, property);
    const dimension = row?.options?.[property]?.dimension ?? null;
    const state = dimension === wanted ? 'ready' : dimension === null ? 'missing' : 'failed';
    const filling = row?.status !== undefined && row.status !== 'OPERATIONAL';
    const live = row?.info?.numDocuments ?? 0;
    const deleted = Math.max(0, (row?.info?.maxDocId ?? 0) - live);
    const detail =
      state === 'failed'
        ? `the index has dimension ${dimension}, the model ${wanted}`
        : filling
          ? `FalkorDB is still filling it (${row?.status})`
          : deleted > live
            ? `${deleted} deleted entries beside ${live} live ones slow searches down; index_repair mode "rebuild" clears them`
            : undefined;
    return {
      graph,
      label,
      property,
      wanted,
      dimension,
      indexed: row?.info?.numDocuments ?? null,
      state,
      ...(detail !== undefined ? { detail } : {}),
    };
  }

  /** Drops the index (if any) and makes it again; FalkorDB fills it from the nodes in the background. */
  async recreate(graph: string, label: string, property: string, dimension: number): Promise<void> {
    const key = `${graph}\u0000${label}\u0000${property}`;
    this.ready.delete(key);
    if ((await this.dimensionOf(graph, label, property)) !== null) {
      await this.db.run(graph, `DROP VECTOR INDEX FOR (n:${q(label)}) ON (n.${q(property)})`);
    }
    await this.create(graph, label, property, dimension);
    this.markReady(key, dimension);
    this.waiting.delete(key);
    this.logger?.info('FalkorDB vector index made again', { graph, label, property, dimension });
  }

  /** Entries of the index, live and deleted (what a query must ask for to be sure to see every vector). */
  async slots(graph: string, label: string, property: string): Promise<number | null> {
    return (await this.row(graph, label, property))?.info?.maxDocId ?? null;
  }

  /** Labels of `graph` with a vector index on `property`, and the index's dimension. */
  async labelsIndexed(graph: string, property: string): Promise<{ label: string; dimension: number | null }[]> {
    const rows = await this.db.run<IndexRow>(graph, 'CALL db.indexes()', {}, 'read');
    return rows
      .filter((r) => r.types?.[property]?.includes('VECTOR'))
      .map((r) => ({ label: r.label, dimension: r.options?.[property]?.dimension ?? null }));
  }

  private markReady(key: string, dimension: number): void {
    if (this.ready.get(key) !== dimension) this.readyCount++;
    this.ready.set(key, dimension);
  }

  private async create(graph: string, label: string, property: string, dimension: number): Promise<void> {
    try {
      await this.db.run(
        graph,
        `CREATE VECTOR INDEX FOR (n:${q(label)}) ON (n.${q(property)}) OPTIONS {dimension: ${dimension}, similarityFunction: 'cosine', efRuntime: ${VECTOR_INDEX_EF_RUNTIME}}`,
      );
    } catch (err) {
      // Another process made it first.
      if (!/already indexed/i.test(errorMessage(err))) throw err;
    }
  }

  private async row(graph: string, label: string, property: string): Promise<IndexRow | undefined> {
    const rows = await this.db.run<IndexRow>(graph, 'CALL db.indexes()', {}, 'read');
    return rows.find((r) => r.label === label && r.types?.[property]?.includes('VECTOR'));
  }

  private async dimensionOf(graph: string, label: string, property: string): Promise<number | null> {
    return (await this.row(graph, label, property))?.options?.[property]?.dimension ?? null;
  }

  private async otherModelCount(graph: string, label: string, property: string, fingerprint: string): Promise<number> {
    const [r] = await this.db.run<{ n: number }>(
      graph,
      `MATCH (n:${q(label)}) WHERE n.${q(property)} IS NOT NULL AND n.embedding_fingerprint <> $fp RETURN count(n) AS n`,
      { fp: fingerprint },
      'read',
    );
    return r?.n ?? 0;
  }
}

function base(s: { graph: string; label: string; property: string; dimension: number }): {
  graph: string;
  label: string;
  property: string;
  wanted: number;
} {
  return { graph: s.graph, label: s.label, property: s.property, wanted: s.dimension };
}
