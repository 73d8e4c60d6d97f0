// The snapshot side of the index manager: when a snapshot is due, capturing one consistently,
// writing it outside the index lock (in capture order), taking the cross-process snapshot lock,
// and loading one back into a generation on open.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { MemoryStore } from '../store/types.js';
import { HostedIndex } from './faiss/faiss-host.js';
import { checkIndexLayout, type ReadAt } from './faiss/faiss-format.js';
import { IndexState } from './index-state.js';
import { appendToFlat } from './snapshot/flat-append.js';
import { heldByAnother, tryLock } from './snapshot/persist-lock.js';
import {
  completeSnapshot,
  encodeHeader,
  openSnapshot,
  verifyIndexPart,
  type SnapshotHeader,
} from './snapshot/snapshot.js';

/** A snapshot write takes seconds even for large indexes; a lock older than this is a crashed holder's. */
const PERSIST_LOCK_STALE_MS = 10 * 60_000;

export interface PersistenceOptions {
  path: string;
  fingerprint: string;
  dimension: number;
  logger: Logger;
  /** Delay between a change and the snapshot write; 0 writes only when asked. */
  delayMs: number;
  /** Called when a scheduled snapshot is due (the manager takes its lock and captures). */
  onDue: () => void;
  /** Whether scheduling is allowed now (the index is open and not frozen). */
  canSchedule: () => boolean;
}

/** The index part of a snapshot being written: its length, and its sha256 when its writer computed it. */
interface IndexPart {
  faissLength: number;
  digest?: Buffer;
}

interface Shot {
  createdAt: string;
  seq: number;
  rows: number;
  /** The generation's compactions when captured. */
  compactions: number;
  tmp: string;
  header: Promise<Buffer[]>;
  part: () => Promise<IndexPart | null>;
}

export interface WriteFailure {
  at: string;
  since: string;
  error: string;
}

export class SnapshotPersistence {
  readonly path: string;
  /** Changes since the last captured snapshot. */
  dirty = false;
  lastPersist: { at: string; seq: number } | null = null;
  /** Persists skipped because another process held the snapshot lock. */
  skipped = 0;
  /** The last snapshot write failed, and since when it keeps failing; null once one succeeds. */
  failure: WriteFailure | null = null;
  private timer: NodeJS.Timeout | undefined;
  /** Snapshot writes in flight, in capture order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly o: PersistenceOptions) {
    this.path = o.path;
  }

  /** Snapshots are written after changes without being asked (a delay is set). */
  get writesOnItsOwn(): boolean {
    return this.o.delayMs > 0;
  }

  /** A change was applied: a snapshot becomes due after the delay. */
  markDirty(): void {
    this.dirty = true;
    this.schedule();
  }

  schedule(): void {
    if (this.o.delayMs <= 0 || this.timer || !this.o.canSchedule()) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.o.onDue();
    }, this.o.delayMs);
    this.timer.unref();
  }

  stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Every write captured so far has finished (or failed). */
  settled(): Promise<void> {
    return this.chain;
  }

  fileBytes(): number | null {
    try {
      return statSync(this.path).size;
    } catch {
      return null;
    }
  }

  delete(): void {
    rmSync(this.path, { force: true });
  }

  /**
   * Captures the snapshot of `s` in one synchronous step, so it is consistent: a copy of the id
   * map, and either the index write posted to the worker (which runs it after everything posted
   * before) or, for a Flat generation whose last snapshot is ours, the vectors to append to a
   * copy of it. Returns the job that writes, completes and renames the file, to run outside the
   * index lock; jobs are chained, so they land in capture order. Undefined when nothing changed
   * or another process is writing the snapshot.
   */
  capture(s: IndexState): (() => Promise<void>) | undefined {
    if (!this.dirty && existsSync(this.path)) return undefined;
    this.stopTimer();
    const lockPath = `${this.path}.lock`;
    const holder = heldByAnother(lockPath, PERSIST_LOCK_STALE_MS);
    if (holder) {
      // Do not have faiss write the whole index for a file that would be thrown away. Ours stays
      // dirty and is retried later (the job below still takes the lock).
      this.skip(holder);
      return undefined;
    }
    const first = this.shoot(s, true);
    this.dirty = false;
    const failed = (err: unknown) => {
      this.failedWith(err);
      this.markDirty();
      return err;
    };
    return () => {
      const write = this.chain.then(async () => {
        let shot = first;
        let part: IndexPart | null;
        try {
          part = await shot.part();
          if (!part) {
            // The file is not the one this process wrote (another process replaced it, or it is
            // gone), or the generation compacted since: faiss writes it in full, captured now.
            this.o.logger.debug('could not append to the last snapshot; faiss writes it in full');
            s.forgetSnapshot();
            shot = this.shoot(s, false);
            part = (await shot.part())!;
          }
        } catch (err) {
          // The worker removes it, unless it stopped meanwhile (and the folder may be gone: not our error).
          await rm(shot.tmp, { force: true }).catch(() => undefined);
          throw failed(err);
        }
        const lock = tryLock(lockPath, PERSIST_LOCK_STALE_MS);
        if (!lock.acquired) {
          await rm(shot.tmp, { force: true });
          this.dirty = true;
          this.skip(lock.holder);
          return;
        }
        let digest: Buffer;
        try {
          digest = await completeSnapshot(shot.tmp, this.path, part.faissLength, await shot.header, part.digest);
        } catch (err) {
          throw failed(err);
        } finally {
          lock.release();
        }
        s.snapshotted({ rows: shot.rows, faissLength: part.faissLength, digest }, shot.compactions);
        this.lastPersist = { at: shot.createdAt, seq: shot.seq };
        this.failure = null;
      });
      this.chain = write.catch(() => undefined); // the caller of the job sees the error; the chain goes on
      return write;
    };
  }

  /** The synchronous step of a capture (see capture); `part` writes the index part into `tmp`. */
  private shoot(s: IndexState, mayAppend: boolean): Shot {
    const createdAt = new Date().toISOString();
    const seq = s.appliedSeq;
    const rows = s.index.size;
    const dir = dirname(this.path);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.${basename(this.path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    // Captured together, with no await between: the header (the map as of now) and the index.
    const header = encodeHeader({
      fingerprint: this.o.fingerprint,
      dimension: this.o.dimension,
      count: rows,
      live: s.live,
      appliedSeq: seq,
      createdAt,
      ids: s.ids.slice(), // copies: the map changes after this step, and encoding takes turns
      hashes: s.hashes.slice(),
      training: s.training,
    });
    header.catch(() => undefined); // awaited by the job; must not reject unhandled meanwhile
    let part: () => Promise<IndexPart | null>;
    if (mayAppend && s.appendable(rows)) {
      // Made in the job, once the writes captured before it landed: their file is the base. (The
      // plan is taken again then: a write that landed meanwhile moved the base up.)
      const compactions = s.compactions;
      part = async () => {
        const plan = s.compactions === compactions ? s.appendable(rows) : null;
        return plan ? appendToFlat(this.path, plan.base, tmp, plan.rows, this.o.dimension) : null;
      };
    } else {
      s.keepAfter(rows);
      const written = s.index.writeFile(tmp).then((faissLength): IndexPart => ({ faissLength }));
      written.catch(() => undefined);
      part = () => written;
    }
    return { createdAt, seq, rows, compactions: s.compactions, tmp, header, part };
  }

  /**
   * Loads the snapshot into a new generation and checks it against the store. Returns the
   * generation, or the reason it cannot be used (the caller then rebuilds from the store).
   */
  async load(store: MemoryStore): Promise<{ state: IndexState } | { problem: string }> {
    if (!existsSync(this.path)) return { problem: 'no snapshot file' };
    try {
      const snap = await openSnapshot(this.path);
      let restored: HostedIndex;
      try {
        const { header } = snap;
        if (header.fingerprint !== this.o.fingerprint || header.dimension !== this.o.dimension) {
          return { problem: `snapshot was made by ${header.fingerprint}, the provider is ${this.o.fingerprint}` };
        }
        // Every size checked first (faiss can abort on a bad one), then faiss reads the index in
        // its thread while its checksum is computed here: damaged floats are caught by the checksum.
        const readAt: ReadAt = async (at, n) => {
          const b = Buffer.alloc(n);
          const { bytesRead } = await snap.file.read(b, 0, n, at);
          return b.subarray(0, bytesRead);
        };
        try {
          await checkIndexLayout(readAt, snap.faissLength, this.o.dimension);
        } catch (err) {
          await verifyIndexPart(snap); // a checksum mismatch is the better reason
          throw err;
        }
        const [read, sum] = await Promise.allSettled([
          HostedIndex.readFile(snap.file, this.path, this.o.dimension),
          verifyIndexPart(snap),
        ]);
        if (sum.status === 'rejected') {
          if (read.status === 'fulfilled') read.value.free();
          throw sum.reason;
        }
        if (read.status === 'rejected') throw read.reason;
        restored = read.value;
      } finally {
        await snap.file.close();
      }
      const adopted = await this.adopt(restored, snap.header, store);
      if ('state' in adopted) {
        const { state } = adopted;
        state.snapshotted(
          { rows: snap.header.count, faissLength: snap.faissLength, digest: snap.faissDigest },
          state.compactions,
        );
      }
      if ('problem' in adopted) restored.free();
      return adopted;
    } catch (err) {
      return { problem: `snapshot unreadable: ${errorMessage(err)}` };
    }
  }

  private async adopt(
    restored: HostedIndex,
    header: SnapshotHeader,
    store: MemoryStore,
  ): Promise<{ state: IndexState } | { problem: string }> {
    if (restored.size !== header.count) {
      return { problem: `snapshot holds ${restored.size} vectors but its map has ${header.count}` };
    }
    const head = await store.headSeq();
    if (header.appliedSeq > head) {
      return { problem: `snapshot reflects change ${header.appliedSeq} but the store is at ${head} (store replaced?)` };
    }
    const state = new IndexState(this.o.fingerprint, this.o.dimension, restored);
    const problem = await state.restoreMap(header.ids, header.hashes, header.appliedSeq);
    if (problem) return { problem };
    if (restored.kind === 'IVF') {
      if (!header.training || header.training.nlist !== restored.nlist) {
        return { problem: 'IVF snapshot without its training record' };
      }
      state.training = header.training;
    }
    this.lastPersist = { at: header.createdAt, seq: header.appliedSeq };
    return { state };
  }

  /** Another process holds the snapshot lock: ours stays dirty and is retried later. */
  private skip(holder: unknown): void {
    this.o.logger.debug('another process is writing the index snapshot', { holder });
    this.skipped++;
    this.schedule();
  }

  private failedWith(err: unknown): void {
    const at = new Date().toISOString();
    this.failure = { at, since: this.failure?.since ?? at, error: errorMessage(err) };
  }

  /** Temporary files left by writes (and IVF training hand-offs) of processes that were killed halfway. */
  removeStaleTemporaries(): void {
    const dir = dirname(this.path);
    if (!existsSync(dir)) return;
    // Snapshot writes (".<file>.<pid>.<rand>.tmp") and IVF training files (".train-<pid>.<rand>.*.tmp").
    const prefixes = [`.${basename(this.path)}.`, '.train-'];
    for (const f of readdirSync(dir)) {
      const prefix = prefixes.find((p) => f.startsWith(p));
      if (prefix === undefined || !f.endsWith('.tmp')) continue;
      const pid = Number(f.slice(prefix.length).split('.')[0]);
      let alive: boolean;
      try {
        process.kill(pid, 0);
        alive = pid !== process.pid;
      } catch {
        alive = false; // no such process: its temporary file is garbage
      }
      if (!alive) rmSync(join(dir, f), { force: true });
    }
  }
}
