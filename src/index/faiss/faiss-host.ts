// The main thread's side of the FAISS worker (faiss-thread.ts). Every FAISS call of the process
// (add, search, remove, snapshot write and read) runs there, so none of them holds the event
// loop: a rebuild of 100k vectors, a 1M-vector snapshot or an exact search of a large index
// leaves tool calls, pings and HTTP requests answered.
//
// `HostedIndex` is one index living in the worker. Its label bookkeeping is synchronous: an
// add reserves its labels when it is posted, and the worker applies requests in the order they
// were posted, so a caller that posts an add and then a search gets results that include the
// add. Vectors travel as one Float32Array per call, transferred, not copied. Indexes go to and
// from disk as files faiss writes and reads itself (faiss-node's in-memory serialization leaks).
//
// A worker that dies (an uncaught error in it, or terminated) takes every index it held
// with it. The host then counts a new epoch: each HostedIndex remembers the epoch it was made
// in, and one of an earlier epoch fails every call at once with a "recovering" error instead of
// reaching the next worker, where its handle means nothing. The next call starts a fresh worker;
// the index managers told through onWorkerLost reload their snapshots there (index-manager.ts).
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { MemoryError } from '../../shared/errors.js';
import { startWorker } from '../../shared/worker-thread.js';
import { fdPath } from './proc-fd.js';
import type { IndexKind, IndexShape, SearchHits } from './faiss-index.js';

export type { IndexKind, IndexShape, SearchHits } from './faiss-index.js';

export interface IndexMeta extends IndexShape {
  size: number;
}

export type HostRequest = { id: number; handle: number } & (
  | { op: 'probe' }
  | { op: 'flat'; dimension: number }
  | { op: 'read'; path: string; dimension: number }
  | { op: 'add'; data: Float32Array }
  | { op: 'merge'; path: string }
  | { op: 'search'; data: Float32Array; k: number }
  | { op: 'remove'; labels: number[] }
  | { op: 'write'; path: string }
  | { op: 'count' }
  | { op: 'free' }
);

export type HostReply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string; name: string };

type Op = HostRequest extends infer R ? (R extends { op: infer O } ? O : never) : never;
type Body<O extends Op> = Omit<Extract<HostRequest, { op: O }>, 'id' | 'handle' | 'op'>;

/** What a caller can do while an index recovers from a lost worker. */
export const RECOVERING_HINT =
  'it is reloaded from its snapshot or rebuilt from the store in the background (index_health shows it); stored memories are kept, writes are acknowledged, and keyword search (mode "hybrid" or "keyword") still answers; try again shortly';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/** The worker, started on first use; kept referenced only while a request is outstanding. */
class FaissHost {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private nextHandle = 1;
  /** faiss-node does not load in the worker: permanent for this process (a rebuild cannot help). */
  private unavailable: MemoryError | null = null;
  /** Workers lost so far: indexes made in an earlier epoch died with their worker. */
  epoch = 0;
  /** Why the last worker stopped. */
  private lostWhy = '';
  private readonly lostListeners = new Set<(why: string) => void>();

  newHandle(): number {
    return this.nextHandle++;
  }

  call<O extends Op>(op: O, handle: number, body: Body<O>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.unavailable) return Promise.reject(this.unavailable);
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) worker.ref();
      this.pending.set(id, { resolve, reject });
      try {
        worker.postMessage({ id, handle, op, ...body }, transfer);
      } catch (err) {
        // Nothing was sent (a value that cannot be cloned): no reply will come.
        this.pending.delete(id);
        if (this.pending.size === 0) worker.unref();
        reject(err as Error);
      }
    });
  }

  /** The error every call on an index of a lost worker fails with. */
  lostError(): MemoryError {
    return new MemoryError(
      'INDEX_UNAVAILABLE',
      `the search index is recovering: the FAISS worker stopped (${this.lostWhy})`,
      {
        hint: RECOVERING_HINT,
      },
    );
  }

  onWorkerLost(listener: (why: string) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** Terminates the worker as a crash would end it (tests only). */
  async terminate(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    const code = await worker.terminate();
    this.lost(worker, `terminated, exit code ${code}`);
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker('index/faiss/faiss-thread');
    worker.unref();
    worker.on('message', (reply: HostReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (reply.ok) p.resolve(reply.value);
      else if (reply.name === 'FaissUnavailable') {
        this.unavailable ??= new MemoryError('INDEX_UNAVAILABLE', reply.error, {
          hint: 'install faiss-node as the message says; stored memories are kept, and keyword search still answers',
        });
        p.reject(this.unavailable);
      } else p.reject(reply.name === 'RangeError' ? new RangeError(reply.error) : new Error(reply.error));
    });
    worker.on('error', (err) => this.lost(worker, err.message));
    worker.on('exit', (code) => this.lost(worker, `exit code ${code}`));
    this.worker = worker;
    return worker;
  }

  /** The worker stopped: its indexes are gone, its requests will never be answered. Once per worker. */
  private lost(worker: Worker, why: string): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.epoch++;
    this.lostWhy = why;
    const err = this.lostError();
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const listener of [...this.lostListeners]) listener(why);
  }
}

const host = new FaissHost();

/**
 * Loads faiss-node in the worker; rejects with INDEX_UNAVAILABLE (saying how to install it) when
 * it is missing or does not load, so that nobody mistakes that for an index needing a rebuild.
 */
export async function checkFaiss(): Promise<void> {
  await host.call('probe', 0, {});
}

/**
 * Calls `listener` (with the reason) each time the FAISS worker stops: every index held by the
 * process is then gone. Returns the function that unsubscribes.
 */
export function onWorkerLost(listener: (why: string) => void): () => void {
  return host.onWorkerLost(listener);
}

/** Workers lost so far in this process (an index made before the last loss is gone). */
export function workerEpoch(): number {
  return host.epoch;
}

/**
 * Terminates the FAISS worker thread, as a crash of that thread would end it. For tests of the
 * recovery only: nothing reachable from a tool call imports it.
 */
export function terminateFaissWorkerForTests(): Promise<void> {
  return host.terminate();
}

// Freeing can only fail when the worker has stopped, and then its indexes are gone anyway
// (an index of an earlier epoch is not sent: its handle means nothing to the next worker).
const freeOnCollect = new FinalizationRegistry<{ handle: number; epoch: number }>(({ handle, epoch }) => {
  if (epoch === host.epoch) void host.call('free', handle, {}).catch(() => undefined);
});

/** An inner-product FAISS index (Flat or IVF) held by the FAISS worker. */
export class HostedIndex {
  readonly dimension: number;
  readonly kind: IndexKind;
  readonly nlist: number | null;
  readonly nprobe: number | null;
  private readonly trained: boolean;
  private readonly handle: number;
  /** The worker epoch this index lives in (see FaissHost.lost); the object is the collector's too. */
  private readonly home: { handle: number; epoch: number };
  /** Vectors in the index once every posted request has run (labels are reserved at post time). */
  private posted: number;
  private freed = false;
  /** An empty Flat index not yet created in the worker: the first request creates it. */
  private uncreated: boolean;
  /** While set, adds go here (with their first label) instead of the worker: see divertAdds. */
  private sink: ((data: Float32Array, firstLabel: number) => Promise<void>) | null = null;

  private constructor(handle: number, epoch: number, dimension: number, m: IndexMeta, created = true) {
    this.handle = handle;
    this.home = { handle, epoch };
    this.dimension = dimension;
    this.kind = m.type;
    this.nlist = m.nlist;
    this.nprobe = m.nprobe;
    this.trained = m.trained;
    this.posted = m.size;
    this.uncreated = created === false;
    freeOnCollect.register(this, this.home, this);
  }

  /**
   * An empty exact index. Nothing reaches the worker until the index is used: a generation that
   * is replaced or closed unused (the placeholder of a manager not yet opened) costs nothing.
   */
  static flat(dimension: number): HostedIndex {
    if (!Number.isInteger(dimension) || dimension < 1 || dimension > 65_536) {
      throw new RangeError(`invalid index dimension ${dimension}`);
    }
    const empty: IndexMeta = { size: 0, type: 'Flat', nlist: null, nprobe: null, trained: true };
    return new HostedIndex(host.newHandle(), host.epoch, dimension, empty, false);
  }

  /**
   * Reads the index faiss wrote at the start of `file` (opened and checked by the caller; the
   * worker reads that very file through /proc/self/fd where there is one).
   */
  static async readFile(file: { fd: number }, path: string, dimension: number): Promise<HostedIndex> {
    const handle = host.newHandle();
    const epoch = host.epoch;
    const m = (await host.call('read', handle, { path: fdPath(file.fd, path), dimension })) as IndexMeta;
    return new HostedIndex(handle, epoch, dimension, m);
  }

  /** Restores serialized index bytes (a trained IVF index) through a temporary file in `dir`. */
  static async fromBytes(bytes: Uint8Array, dimension: number, dir: string): Promise<HostedIndex> {
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.train-${process.pid}.${randomBytes(4).toString('hex')}.load.tmp`);
    const file = await open(tmp, 'wx', 0o600);
    try {
      await file.writeFile(bytes);
      return await HostedIndex.readFile(file, tmp, dimension);
    } finally {
      await file.close();
      await rm(tmp, { force: true });
    }
  }

  /** The worker holding this index stopped: every call fails (an index not yet created is not lost). */
  get lost(): boolean {
    return !this.uncreated && this.home.epoch !== host.epoch;
  }

  /** Vectors held once every request posted so far has run (tombstones included). */
  get size(): number {
    return this.posted;
  }

  shape(): IndexShape {
    return { type: this.kind, nlist: this.nlist, nprobe: this.nprobe, trained: this.trained };
  }

  /**
   * Posts vectors to add; their labels are `size` (read before the call) onwards, reserved now.
   * The promise settles when the worker has added them.
   */
  add(vectors: readonly Float32Array[]): Promise<void> {
    if (vectors.length === 0) return Promise.resolve();
    if (!this.trained) return Promise.reject(new Error('the IVF index is not trained; nothing can be added'));
    let data: Float32Array;
    try {
      data = this.pack(vectors);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const first = this.posted;
    this.posted += vectors.length;
    if (this.sink) return this.sink(data, first);
    return this.call('add', { data }, [data.buffer as ArrayBuffer]).then(() => undefined);
  }

  /**
   * Until `endDivert`, adds reserve their labels as usual but hand their vectors to `sink`
   * instead of the worker, for an IVF generation filled elsewhere (ivf-fill.ts) and merged back
   * with mergeFile. Searches are refused meanwhile: the worker's index lacks those vectors.
   */
  divertAdds(sink: (data: Float32Array, firstLabel: number) => Promise<void>): void {
    this.sink = sink;
  }

  endDivert(): void {
    this.sink = null;
  }

  /** Appends the vectors of an index file written by ivf-fill (labels already reserved by diverted adds). */
  async mergeFile(path: string): Promise<number> {
    return ((await this.call('merge', { path })) as { added: number }).added;
  }

  /** k nearest for each query; fewer when the index holds fewer vectors. */
  async search(queries: readonly Float32Array[], k: number): Promise<SearchHits[]> {
    if (queries.length === 0) return [];
    if (this.sink) throw new Error('this index generation is still being filled');
    if (Math.min(Math.floor(k), this.posted) < 1) return queries.map(() => ({ labels: [], scores: [] }));
    const data = this.pack(queries);
    return (await this.call('search', { data, k: Math.floor(k) }, [data.buffer as ArrayBuffer])) as SearchHits[];
  }

  /**
   * Removes labels from a flat index, which compacts: every label after a removed one shifts
   * down by the number of removed labels before it. Resolves to the number removed.
   */
  async remove(labels: readonly number[]): Promise<number> {
    if (this.kind !== 'Flat') throw new Error('only a flat index can remove vectors in place');
    const valid = [...new Set(labels)].filter((l) => Number.isInteger(l) && l >= 0 && l < this.posted);
    if (valid.length === 0) return 0;
    this.posted -= valid.length;
    return (await this.call('remove', { labels: valid })) as number;
  }

  /** The vectors the worker actually holds (to check against the id map). */
  async count(): Promise<number> {
    return ((await this.call('count', {})) as IndexMeta).size;
  }

  /**
   * Writes the index, as of every request posted before this call, into a new file `path`
   * (which must not exist; its folder must). Resolves to the number of bytes faiss wrote.
   */
  writeFile(path: string): Promise<number> {
    return this.call('write', { path }) as Promise<number>;
  }

  /** Releases the worker's copy; requests posted earlier still run. Idempotent. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    freeOnCollect.unregister(this);
    if (!this.uncreated && !this.lost) void host.call('free', this.handle, {}).catch(() => undefined);
  }

  private call<O extends Op>(op: O, body: Body<O>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.freed) return Promise.reject(new Error('this search index generation was released'));
    if (this.lost) return Promise.reject(host.lostError());
    if (this.uncreated) {
      this.uncreated = false;
      this.home.epoch = host.epoch; // empty until now: it lives wherever it is first created
      // Posted first, so it runs first; a failure (none is expected) surfaces through this request.
      void host.call('flat', this.handle, { dimension: this.dimension }).catch(() => undefined);
    }
    return host.call(op, this.handle, body, transfer);
  }

  private pack(vectors: readonly Float32Array[]): Float32Array {
    const d = this.dimension;
    const data = new Float32Array(vectors.length * d);
    vectors.forEach((v, i) => {
      if (v.length !== d) throw new RangeError(`vector has dimension ${v.length}, the index expects ${d}`);
      data.set(v, i * d);
    });
    return data;
  }
}
