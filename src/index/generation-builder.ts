// Builds index generations off to the side: the empty index the collection size calls for
// (Flat, or IVF trained in a child process on stored vectors, reusing a trained IVF when it
// still fits), filled from the store's change feed page by page. Also decides when the served
// generation has outgrown its shape.
import { setImmediate as turn } from 'node:timers/promises';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { randomSample } from '../shared/random-sample.js';
import { embeddedCount } from '../shared/embedded-count.js';
import type { MemoryStore } from '../store/types.js';
import { HostedIndex } from './faiss/faiss-host.js';
import { MIN_POINTS_PER_LIST } from './faiss/faiss-limits.js';
import { IndexState } from './index-state.js';
import { nlistDrifted, planFor, retrainReason, retryAfterRefusal, type IvfPolicy } from './ivf/ivf-policy.js';
import { IvfFill } from './ivf/ivf-fill.js';
import { trainInWorker } from './ivf/ivf-train.js';

/** Training-sample rows read per store query (random reads, each page one synchronous query). */
const SAMPLE_PAGE = 250;
/** The most lists an IVF search may probe; beyond it exact search is the better deal. */
const MAX_NPROBE = 256;
/** recall@10 the tuning must reach above the floor. */
const TUNING_MARGIN = 0.02;
/**
 * Pages of changes applied to an IVF generation that is not being filled (ivf-fill.ts) hold about
 * 40,000 floats: its adds go through faiss-node's JS arrays, read element by element, so one page
 * holds the FAISS worker for a short time. A Flat generation's pages go to faiss as bytes
 * (faiss-format.ts), and a filled IVF generation's to a file: larger pages, bounded by the page
 * read from the store (one synchronous query).
 */
const BUILD_PAGE_FLOATS = { IVF: 40_000, Flat: 1_000_000 };

/** The last IVF training attempt, kept or refused. */
export interface TrainingAttempt {
  at: string;
  vectors: number;
  nlist: number;
  outcome: 'kept' | 'refused';
  /** Why the IVF index was refused (Flat kept), or why training was started. */
  reason: string;
  trainingSetSize: number;
  nprobe: number | null;
  curve: { nprobe: number; recall: number }[];
  trainMs: number;
  tuneMs: number;
}

export type Progress = (done: number, total: number) => void | Promise<void>;

export interface BuildOptions {
  /** The current generation is open and served (its size estimates the store's). */
  serving: boolean;
  /** Flat whatever the size (see build). */
  exact?: boolean;
  onProgress?: Progress | undefined;
}

export interface BuilderOptions {
  store: MemoryStore;
  fingerprint: string;
  dimension: number;
  logger: Logger;
  policy: IvfPolicy;
  compact: { ratio: number; min: number };
  /** Folder for the files handed to and from the training process. */
  workDir: string;
}

export class GenerationBuilder {
  lastAttempt: TrainingAttempt | null = null;

  constructor(private readonly o: BuilderOptions) {}

  /**
   * Reads the whole store into a new generation. `current` is the served one (its trained IVF
   * may be reused); `serving` says whether it is open, so its size is a good estimate. An
   * `exact` build is Flat whatever the size: what an open without a usable snapshot serves
   * first, as it is the fastest to build (training IVF first would keep every search waiting for
   * minutes at 1M vectors); the reshape to IVF follows in the background. Awaits between pages,
   * so it never holds the loop long.
   */
  async build(current: IndexState, how: BuildOptions): Promise<IndexState> {
    const { serving, exact = false, onProgress } = how;
    const { fingerprint, dimension, store, logger, compact } = this.o;
    // The plan needs an estimate only: the served generation's size; when opening, the store's
    // count of vectors of this model. The training sample lists the ids it draws from.
    const total = serving ? current.live : await embeddedCount(store, fingerprint);
    const fresh = exact ? new IndexState(fingerprint, dimension) : await this.emptyFor(total, current);
    // An IVF generation is filled by child processes (ivf-fill.ts); its adds go to a file meanwhile.
    const emptyTrained = fresh.index.kind === 'IVF' ? fresh.emptyTrained : null;
    let fill: IvfFill | undefined;
    try {
      if (emptyTrained) fill = await IvfFill.divert(fresh.index, this.o.workDir);
      const pageFloats = BUILD_PAGE_FLOATS[fill ? 'Flat' : fresh.index.kind];
      // One page in flight in the worker while the next is read from the store.
      let inFlight: Promise<void> = Promise.resolve();
      for (;;) {
        const page = await store.changesSince(fresh.appliedSeq, Math.max(16, Math.floor(pageFloats / dimension)));
        const applied = fresh.apply(page.events, logger, compact);
        fresh.appliedSeq = page.toSeq;
        await inFlight;
        inFlight = applied;
        await onProgress?.(fresh.live, Math.max(total, fresh.live));
        if (!page.more) {
          await inFlight;
          if (fill && emptyTrained) await fill.finish(fresh.index, emptyTrained);
          return fresh;
        }
        // The store may answer synchronously (SQLite): give sockets and timers a turn between
        // pages, or the whole build would run as one stall.
        await turn();
      }
    } catch (err) {
      await fill?.discard();
      fresh.release();
      throw err;
    }
  }

  /**
   * Why the served generation should be rebuilt in another shape (Flat -> IVF past the
   * threshold, IVF retrained when the right nlist drifted, back to Flat far below the threshold,
   * an IVF generation with too many tombstones), or undefined when it fits.
   */
  reshapeReason(s: IndexState, writing = false): string | undefined {
    const shape = s.index.shape();
    let why = retrainReason(shape, s.live, this.o.dimension, this.o.policy, writing);
    if (why && shape.type === 'Flat' && this.refusedNear(s.live)) why = undefined;
    if (!why && shape.type === 'IVF' && s.needsCompaction(this.o.compact)) {
      why = `${s.tombstones} deleted or replaced vectors in the IVF index`;
    }
    return why;
  }

  /** IVF training was refused at about this size already (not retried until the collection grows). */
  private refusedNear(vectors: number): boolean {
    const last = this.lastAttempt;
    return last?.outcome === 'refused' && !retryAfterRefusal(last.vectors, vectors);
  }

  /** The empty index a build fills: what the plan calls for, reusing a trained IVF when it still fits. */
  private async emptyFor(estimate: number, current: IndexState): Promise<IndexState> {
    const { fingerprint, dimension, policy, store } = this.o;
    const plan = planFor(estimate, dimension, policy);
    const flat = () => new IndexState(fingerprint, dimension);
    if (plan.type === 'Flat') return flat();
    if (
      current.index.kind === 'IVF' &&
      current.emptyTrained &&
      current.training &&
      !nlistDrifted(current.training.nlist, plan.nlist)
    ) {
      const reused = new IndexState(
        fingerprint,
        dimension,
        await HostedIndex.fromBytes(current.emptyTrained, dimension, this.o.workDir),
      );
      reused.training = current.training;
      reused.emptyTrained = current.emptyTrained;
      return reused;
    }
    if (this.refusedNear(estimate)) return flat();
    const all = await store.embeddedIds(fingerprint);
    return (await this.train(all, plan.nlist, plan.trainingPoints, plan.holdout)) ?? flat();
  }

  /**
   * Trains IVF{nlist} on a random sample of distinct stored vectors, in a child process, and
   * picks the smallest nprobe reaching the recall floor on held-out stored vectors. Returns
   * undefined (Flat is kept, the reason recorded) when the data cannot make a sound IVF index.
   */
  private async train(ids: string[], nlist: number, points: number, holdout: number): Promise<IndexState | undefined> {
    const { fingerprint, store } = this.o;
    const picked = randomSample(ids, Math.min(ids.length, points + holdout));
    const seen = new Set<string>();
    const rows: Float32Array[] = [];
    for (let i = 0; i < picked.length; i += SAMPLE_PAGE) {
      for (const v of await store.vectorsOf(picked.slice(i, i + SAMPLE_PAGE), fingerprint)) {
        if (seen.has(v.contentHash)) continue; // never train on duplicates
        seen.add(v.contentHash);
        rows.push(v.vector);
      }
      await turn();
    }
    const attempt: TrainingAttempt = {
      at: new Date().toISOString(),
      vectors: ids.length,
      nlist,
      outcome: 'refused',
      reason: '',
      trainingSetSize: rows.length - holdout,
      nprobe: null,
      curve: [],
      trainMs: 0,
      tuneMs: 0,
    };
    // Recorded once decided: health must not read a training still running as a refusal.
    try {
      return await this.trainOn(rows, attempt, holdout);
    } finally {
      this.lastAttempt = attempt;
    }
  }

  private async trainOn(
    rows: Float32Array[],
    attempt: TrainingAttempt,
    holdout: number,
  ): Promise<IndexState | undefined> {
    const { fingerprint, dimension, logger } = this.o;
    const { nlist } = attempt;
    if (rows.length - holdout < MIN_POINTS_PER_LIST * nlist) {
      attempt.reason = `only ${rows.length} distinct stored vectors; IVF${nlist} needs ${MIN_POINTS_PER_LIST * nlist} to train plus ${holdout} to test`;
      logger.warn('keeping the exact index', { reason: attempt.reason });
      return undefined;
    }
    // A margin over the floor: recall measured later on other queries (index_health, a few
    // dozen) scatters around the tuning figure.
    const target = Math.min(1, this.o.policy.recallFloor + TUNING_MARGIN);
    try {
      logger.info('training an IVF index in a child process', { nlist, trainingSetSize: attempt.trainingSetSize });
      const result = await trainInWorker(
        { dimension, nlist, count: rows.length, holdout, targetRecall: target, maxNprobe: MAX_NPROBE },
        rows,
        this.o.workDir,
      );
      Object.assign(attempt, {
        nprobe: result.nprobe,
        curve: result.curve,
        trainMs: result.trainMs,
        tuneMs: result.tuneMs,
      });
      if (result.nprobe === null) {
        const best = Math.max(...result.curve.map((c) => c.recall));
        attempt.reason = `IVF${nlist} reached recall@10 ${best.toFixed(3)} at most (nprobe up to ${Math.min(nlist, MAX_NPROBE)}), below ${target}`;
        logger.warn('IVF index refused, keeping the exact index', { reason: attempt.reason });
        return undefined;
      }
      const bytes = result.index;
      const state = new IndexState(
        fingerprint,
        dimension,
        await HostedIndex.fromBytes(bytes, dimension, this.o.workDir),
      );
      state.emptyTrained = bytes;
      state.training = {
        nlist,
        nprobe: result.nprobe,
        trainingSetSize: attempt.trainingSetSize,
        trainedAt: attempt.at,
        trainMs: Math.round(result.trainMs),
        tuneMs: Math.round(result.tuneMs),
        curve: result.curve,
      };
      attempt.outcome = 'kept';
      attempt.reason = `recall@10 ${result.curve[result.curve.length - 1]!.recall.toFixed(3)} at nprobe ${result.nprobe} on ${holdout} held-out stored vectors`;
      return state;
    } catch (err) {
      attempt.reason = `training failed: ${errorMessage(err)}`;
      logger.error('IVF training failed, keeping the exact index', { error: errorMessage(err) });
      return undefined;
    }
  }
}
