// Search served by FalkorDB's own vector indexes (HNSW, kept by FalkorDB in each write's query),
// for server instances that hold no local index (MEMORY_SEARCH_INDEX=falkordb): every instance
// on one FalkorDB sees every write at once, with nothing to load at start.
//
// Searched: the memory label of the home graph and, in every graph holding backfilled nodes of
// other tools (their VmmRef), each label with a vector index on the embedding property. An index
// also holds vectors of another model of the same dimension (during a model change) and nodes
// not registered as memories: those are dropped here, asking the index for more until `k` pass
// or it has nothing more. FalkorDB's score is the cosine distance; the hits carry 1 - distance.
import type { StoreVectorSearch, VectorHit, VectorIndexState } from '../types.js';
import type { FalkorConnection } from './connection.js';
import { INTERNAL_LABELS, REF, q } from './cypher.js';
import type { VectorIndexes } from './vector-indexes.js';

/**
 * How long the list of labels searched in other tools' graphs is reused. A label this instance
 * writes vectors to for the first time is searched at once; one another instance backfilled,
 * within this time.
 */
const TARGETS_MS = 10_000;

interface Target {
  graph: string;
  label: string;
}

export class FalkorVectorSearch implements StoreVectorSearch {
  private targets: { at: number; list: Target[]; fingerprint: string; seen: number } | undefined;

  constructor(
    private readonly db: FalkorConnection,
    private readonly indexes: VectorIndexes,
    private readonly o: { home: string; label: string; property: string },
  ) {}

  async search(vector: Float32Array, k: number, fingerprint: string): Promise<VectorHit[]> {
    if (k < 1) return [];
    const v = [...vector];
    const targets = await this.searched(fingerprint);
    const all = (await Promise.all(targets.map((t) => this.searchOne(t, v, k, fingerprint)))).flat();
    return all.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1)).slice(0, k);
  }

  /**
   * The best `k` of one index holding this model's vectors, asking for 4x more while others crowd
   * them out. FalkorDB counts the deleted entries of its index against `k` (one is left each time a
   * node of the label is written to), so fewer rows than asked does not mean the index is
   * exhausted: only asking for as many as it has slots does.
   */
  private async searchOne(t: Target, v: number[], k: number, fingerprint: string): Promise<VectorHit[]> {
    let slots: number | undefined;
    for (let ask = k; ; ask *= 4) {
      let rows: { id: string | null; ok: boolean; distance: number }[];
      try {
        rows = await this.db.run(
          t.graph,
          `CALL db.idx.vector.queryNodes($label, $property, $k, vecf32($v)) YIELD node, score
           RETURN node.memory_id AS id, node.embedding_fingerprint = $fp AS ok, score AS distance`,
          { label: t.label, property: this.o.property, k: ask, v, fp: fingerprint },
          'read',
        );
      } catch (err) {
        // No index there (yet): nothing of this model to find, which health reports.
        if (/invalid arguments|no such index|not indexed|unknown index/i.test(String(err))) return [];
        throw err;
      }
      const hits = rows
        .filter((r) => r.ok === true && typeof r.id === 'string')
        .map((r) => ({ id: r.id!, score: 1 - r.distance }));
      if (hits.length >= k) return hits.slice(0, k);
      if (rows.length < ask) {
        slots ??= (await this.indexes.slots(t.graph, t.label, this.o.property)) ?? 0;
        if (ask >= slots) return hits;
      }
    }
  }

  async count(fingerprint: string): Promise<number> {
    const [own] = await this.db.run<{ n: number }>(
      this.o.home,
      `MATCH (m:${q(this.o.label)}) WHERE m.embedding_status = 'done' AND m.embedding_fingerprint = $fp RETURN count(m) AS n`,
      { fp: fingerprint },
      'read',
    );
    const [refs] = await this.db.run<{ n: number }>(
      this.o.home,
      `MATCH (r:${REF}) WHERE r.fingerprint = $fp RETURN count(r) AS n`,
      { fp: fingerprint },
      'read',
    );
    return (own?.n ?? 0) + (refs?.n ?? 0);
  }

  async inspect(dimension: number, fingerprint: string): Promise<VectorIndexState[]> {
    const out: VectorIndexState[] = [];
    for (const t of await this.searched(fingerprint, true)) {
      out.push(await this.indexes.describe(t.graph, t.label, this.o.property, dimension));
    }
    return out;
  }

  async ensure(dimension: number, fingerprint: string, everyGraph: boolean): Promise<VectorIndexState[]> {
    await this.indexes.ensure(this.o.home, this.o.label, this.o.property, dimension, fingerprint, true);
    if (everyGraph) {
      for (const graph of await this.graphsOf(fingerprint)) {
        const rows = await this.db.run<{ labels: string[] }>(
          graph,
          `MATCH (n) WHERE n.embedding_fingerprint = $fp AND n.memory_id IS NOT NULL RETURN DISTINCT labels(n) AS labels`,
          { fp: fingerprint },
          'read',
        );
        const labels = new Set(rows.flatMap((r) => r.labels).filter((l) => !INTERNAL_LABELS.includes(l)));
        for (const label of labels) {
          if (graph === this.o.home && label === this.o.label) continue;
          await this.indexes.ensure(graph, label, this.o.property, dimension, fingerprint, true);
        }
      }
    }
    return this.inspect(dimension, fingerprint);
  }

  async recreate(dimension: number, fingerprint: string): Promise<void> {
    for (const t of await this.searched(fingerprint, true)) {
      await this.indexes.recreate(t.graph, t.label, this.o.property, dimension);
    }
  }

  async models(): Promise<{ fingerprint: string; live: number }[]> {
    const own = await this.db.run<{ fp: string | null; n: number }>(
      this.o.home,
      `MATCH (m:${q(this.o.label)}) WHERE m.embedding_status = 'done' RETURN m.embedding_fingerprint AS fp, count(m) AS n`,
      {},
      'read',
    );
    const refs = await this.db.run<{ fp: string | null; n: number }>(
      this.o.home,
      `MATCH (r:${REF}) RETURN r.fingerprint AS fp, count(r) AS n`,
      {},
      'read',
    );
    const live = new Map<string, number>();
    for (const r of [...own, ...refs]) if (r.fp) live.set(r.fp, (live.get(r.fp) ?? 0) + r.n);
    return [...live].map(([fingerprint, n]) => ({ fingerprint, live: n })).sort((a, b) => b.live - a.live);
  }

  /** The home label, then each vector-indexed label of the graphs holding this model's backfilled nodes. */
  private async searched(fingerprint: string, fresh = false): Promise<Target[]> {
    const cached = this.targets;
    const seen = this.indexes.readyCount;
    const reuse = cached && cached.fingerprint === fingerprint && cached.seen === seen;
    if (!fresh && reuse && Date.now() - cached.at < TARGETS_MS) {
      return cached.list;
    }
    const list: Target[] = [{ graph: this.o.home, label: this.o.label }];
    for (const graph of await this.graphsOf(fingerprint)) {
      for (const { label } of await this.indexes.labelsIndexed(graph, this.o.property)) {
        const own = graph === this.o.home && label === this.o.label;
        if (!own && !INTERNAL_LABELS.includes(label)) list.push({ graph, label });
      }
    }
    this.targets = { at: Date.now(), list, fingerprint, seen };
    return list;
  }

  /** Graphs holding backfilled nodes of other tools with this model's vectors. */
  private async graphsOf(fingerprint: string): Promise<string[]> {
    const rows = await this.db.run<{ graph: string }>(
      this.o.home,
      `MATCH (r:${REF}) WHERE r.fingerprint = $fp RETURN DISTINCT r.graph AS graph`,
      { fp: fingerprint },
      'read',
    );
    return rows.map((r) => r.graph);
  }
}
