// One generation of the search index: the FAISS index (held by the FAISS worker), our label <->
// memory-id map (labels are insertion positions; deletes are tombstones), and the store sequence
// it reflects. The manager serves searches from one generation while a rebuild fills another off
// to the side.
//
// The map changes synchronously when a change is posted to the worker, and the worker applies
// requests in posting order, so the map always describes the index as of everything posted;
// the returned promises say when the worker has caught up (and fail if it could not).
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { ChangeEvent } from '../store/types.js';
import { HostedIndex } from './faiss/faiss-host.js';
import type { FlatBase } from './snapshot/flat-append.js';

const HASH_CHARS = 16;
/**
 * Floats of vectors kept for the next snapshot (flat-append.ts) before giving up on appending
 * (64M floats, 256 MB): past it the next snapshot is written by faiss in full.
 */
const TAIL_MAX_FLOATS = 64_000_000;

/** How an IVF generation was trained, for health and the snapshot header. */
export interface TrainingInfo {
  nlist: number;
  nprobe: number;
  trainingSetSize: number;
  trainedAt: string;
  trainMs: number;
  tuneMs: number;
  /** recall@10 against exact search on the tuning sample, by nprobe tried. */
  curve: { nprobe: number; recall: number }[];
}

export interface Hit {
  id: string;
  score: number;
  /** Short content hash of the text the vector was made from. */
  hash?: string;
}

export class IndexState {
  index: HostedIndex;
  ids: (string | null)[] = [];
  hashes: (string | null)[] = [];
  labels = new Map<string, number>();
  tombstones = 0;
  appliedSeq = 0;
  compactions = 0;
  /** Set for IVF generations: how they were trained. */
  training: TrainingInfo | null = null;
  /** The trained, empty IVF index (serialized), to refill without retraining; null when unknown. */
  emptyTrained: Buffer | null = null;
  /** Set when the worker failed to apply a change the map already reflects: the generation must be rebuilt. */
  broken: string | null = null;
  /**
   * Flat generations: the snapshot file this process last wrote or read holds this generation's
   * first `base.rows` vectors exactly as faiss holds them; `tail` keeps copies of the vectors
   * added from label `keepingFrom` on (blocks, each with its first label), so the next snapshot
   * appends them to a copy of that file instead of having the worker write the whole index.
   */
  private base: FlatBase | null = null;
  private keepingFrom: number | null = null;
  private tail: { first: number; data: Float32Array }[] = [];
  private tailFloats = 0;

  constructor(
    readonly fingerprint: string,
    readonly dimension: number,
    index?: HostedIndex,
  ) {
    this.index = index ?? HostedIndex.flat(dimension);
  }

  get live(): number {
    return this.labels.size;
  }

  /** A full snapshot of the first `rows` vectors is being written: keep what is added after them. */
  keepAfter(rows: number): void {
    if (this.index.kind !== 'Flat') return;
    if (this.keepingFrom === null || this.keepingFrom > rows) this.keepingFrom = rows;
  }

  /**
   * A snapshot holding this generation's first `base.rows` vectors was written or read (Flat
   * only), captured when `compactions` compactions had run: after another one its vectors are
   * no longer this generation's first ones (labels shifted).
   */
  snapshotted(base: FlatBase, compactions: number): void {
    if (this.index.kind !== 'Flat' || compactions !== this.compactions || base.rows > this.index.size) return;
    this.keepAfter(base.rows);
    this.base = base;
    this.tail = this.tail.filter((b) => b.first + b.data.length / this.dimension > base.rows);
    this.tailFloats = this.tail.reduce((n, b) => n + b.data.length, 0);
  }

  /**
   * What the next snapshot of the first `rows` vectors can be appended to, and the vectors to
   * append (views of the kept copies); null when it must be written by faiss in full.
   */
  appendable(rows: number): { base: FlatBase; rows: Float32Array[] } | null {
    const base = this.base;
    if (!base || this.index.kind !== 'Flat' || rows < base.rows) return null;
    const d = this.dimension;
    const out: Float32Array[] = [];
    let next = base.rows;
    for (const b of this.tail) {
      const end = b.first + b.data.length / d;
      if (end <= next || b.first >= rows) continue;
      if (b.first > next) return null; // a gap: not every vector was kept
      out.push(b.data.subarray((next - b.first) * d, (Math.min(end, rows) - b.first) * d));
      next = Math.min(end, rows);
    }
    return next === rows ? { base, rows: out } : null;
  }

  /** The snapshot file is not known to hold this generation's vectors: the next one is written in full. */
  forgetSnapshot(): void {
    this.base = null;
    this.keepingFrom = null;
    this.tail = [];
    this.tailFloats = 0;
  }

  /** Restores the id map of a snapshot; returns a reason when it is inconsistent. */
  async restoreMap(ids: (string | null)[], hashes: (string | null)[], appliedSeq: number): Promise<string | undefined> {
    this.ids = ids;
    this.hashes = hashes;
    for (let label = 0; label < ids.length; label++) {
      const id = ids[label];
      if (id === null || id === undefined) this.tombstones++;
      else if (this.labels.has(id)) return `snapshot maps memory ${id} twice`;
      else this.labels.set(id, label);
      // A turn of the event loop every 50k labels; nobody searches this generation yet.
      if (label % 50_000 === 49_999) await new Promise((resolve) => setImmediate(resolve));
    }
    this.appliedSeq = appliedSeq;
    return undefined;
  }

  async search(queries: readonly Float32Array[], k: number): Promise<Hit[][]> {
    if (this.labels.size === 0 || k < 1) return queries.map(() => []);
    // Tombstoned labels still sit in the faiss index: ask for enough to fill k live hits.
    const want = Math.min(this.index.size, Math.floor(k) + this.tombstones);
    // The map as of posting: a compaction posted later replaces these arrays, and its labels.
    const ids = this.ids;
    const hashes = this.hashes;
    return (await this.index.search(queries, want)).map((hits) => {
      const out: Hit[] = [];
      for (let i = 0; i < hits.labels.length && out.length < k; i++) {
        const label = hits.labels[i]!;
        const id = ids[label];
        if (id) out.push({ id, score: hits.scores[i]!, hash: hashes[label] ?? '' });
      }
      return out;
    });
  }

  /**
   * Applies one page of changes: the map changes before this returns (no await in between), the
   * promise settles when the worker has applied them too.
   */
  apply(events: readonly ChangeEvent[], logger: Logger, compact: { ratio: number; min: number }): Promise<void> {
    const adds = new Map<string, { vector: Float32Array; hash: string }>();
    for (const e of events) {
      const id = e.kind === 'delete' ? e.id : e.record.id;
      const vector =
        e.kind === 'upsert' && e.vector && e.vector.fingerprint === this.fingerprint ? e.vector.vector : null;
      if (!vector || vector.length !== this.dimension) {
        if (vector) logger.warn('skipping a stored vector of the wrong dimension', { id });
        adds.delete(id);
        this.tombstone(id);
        continue;
      }
      const hash = (e as Extract<ChangeEvent, { kind: 'upsert' }>).record.contentHash.slice(0, HASH_CHARS);
      const label = this.labels.get(id);
      if (!adds.has(id) && label !== undefined && this.hashes[label] === hash) continue;
      this.tombstone(id);
      adds.set(id, { vector, hash });
    }
    const added = this.add([...adds].map(([id, a]) => ({ id, vector: a.vector, hash: a.hash })));
    const compacted = this.index.kind === 'Flat' && this.needsCompaction(compact) ? this.compact(logger) : undefined;
    return Promise.all([added, compacted]).then(() => undefined);
  }

  /** Too many tombstones: a flat index compacts in place, an IVF generation is rebuilt by the manager. */
  needsCompaction(compact: { ratio: number; min: number }): boolean {
    return this.tombstones >= compact.min && this.tombstones > this.index.size * compact.ratio;
  }

  /** Posts vectors to the index; their labels are assigned (and mapped) now. */
  add(entries: readonly { id: string; vector: Float32Array; hash: string }[]): Promise<void> {
    const valid = entries.filter((e) => e.vector.length === this.dimension);
    if (valid.length === 0) return Promise.resolve();
    const first = this.index.size;
    if (this.keepingFrom !== null) {
      const data = new Float32Array(valid.length * this.dimension);
      valid.forEach((e, i) => data.set(e.vector, i * this.dimension));
      this.tail.push({ first, data });
      this.tailFloats += data.length;
      if (this.tailFloats > TAIL_MAX_FLOATS) this.forgetSnapshot();
    }
    const done = this.index.add(valid.map((e) => e.vector));
    valid.forEach((e, i) => {
      this.ids.push(e.id);
      this.hashes.push(e.hash.slice(0, HASH_CHARS));
      this.labels.set(e.id, first + i);
    });
    return this.watch(done, 'adding vectors');
  }

  tombstone(id: string): void {
    const label = this.labels.get(id);
    if (label === undefined) return;
    this.ids[label] = null;
    this.hashes[label] = null;
    this.labels.delete(id);
    this.tombstones++;
  }

  /** Drops tombstoned vectors. A flat index keeps order when removing, so live labels shift down. */
  compact(logger: Logger): Promise<void> {
    const dead: number[] = [];
    for (let l = 0; l < this.ids.length; l++) if (this.ids[l] === null) dead.push(l);
    const removing = this.index.remove(dead);
    this.forgetSnapshot(); // labels shift down: the snapshot's vectors are no longer a prefix
    const ids = this.ids.filter((id): id is string => id !== null);
    this.ids = ids;
    this.hashes = this.hashes.filter((h): h is string => h !== null);
    this.labels = new Map(ids.map((id, label) => [id, label]));
    this.tombstones = 0;
    this.compactions++;
    const checked = removing.then((removed) => {
      if (removed !== dead.length) throw new Error(`compaction removed ${removed} of ${dead.length} vectors`);
      logger.debug('compacted the search index', { removed, vectors: this.index.size });
    });
    return this.watch(checked, 'compacting');
  }

  /** Frees the worker's copy of the index (requests posted earlier still run). */
  release(): void {
    this.index.free();
  }

  private watch(done: Promise<void>, what: string): Promise<void> {
    return done.catch((err: unknown) => {
      this.broken ??= `${what} failed in the FAISS worker: ${errorMessage(err)}`;
      throw err;
    });
  }
}
