// When the search index should be exact (Flat) and when IVF, with how many lists, trained on
// how many stored vectors. Pure functions: the manager asks, tests check the numbers.
import { MAX_TRAINING_FLOATS, MIN_POINTS_PER_LIST } from '../faiss/faiss-limits.js';

export interface IvfPolicy {
  /** Collections smaller than this stay Flat (exact). */
  minVectors: number;
  /** recall@10 against exact search an IVF index must reach on its tuning sample, else Flat is kept. */
  recallFloor: number;
  /** Training points per list (FAISS needs 39; more trains better and takes longer). */
  pointsPerList: number;
}

export const DEFAULT_IVF_POLICY: IvfPolicy = { minVectors: 200_000, recallFloor: 0.95, pointsPerList: 50 };

const MIN_NLIST = 16;
const MAX_NLIST = 65_536;
/** Retrain when the right nlist differs from the current one by more than this share. */
export const RETRAIN_DRIFT = 0.25;
/**
 * While vectors keep arriving (a bulk import), an IVF index is retrained only once the right
 * nlist doubled (4x the vectors it was trained for): an import to 1M trains at 200k and 800k,
 * not at every 25% drift (200k, 312k, 488k, 763k). The adds meanwhile go to the lists it has.
 */
export const RETRAIN_DRIFT_WHILE_WRITING = 1;
/** No vector added for this long: writes have stopped, the usual drift applies. */
export const WRITES_QUIET_MS = 30_000;

/** The right nlist differs from the trained one by more than the drift share: retrain. */
export function nlistDrifted(trained: number, planned: number, share = RETRAIN_DRIFT): boolean {
  return Math.abs(planned - trained) > share * trained;
}

/** A training refused at `refusedAt` vectors is retried only once the collection grew by the drift share. */
export function retryAfterRefusal(refusedAt: number, vectors: number): boolean {
  return vectors >= refusedAt * (1 + RETRAIN_DRIFT);
}

export type IndexPlan =
  { type: 'Flat'; why: string } | { type: 'IVF'; nlist: number; trainingPoints: number; holdout: number; why: string };

/** Stored vectors held out of training to measure recall on (1%, 50 to 500). */
function holdoutFor(vectors: number): number {
  return Math.min(500, Math.max(50, Math.floor(vectors / 100)));
}

/**
 * nlist = 4·√N (FAISS's guidance is 4·√N to 16·√N; the older N/39 gives far too many lists at
 * large N), bounded so that there are at least 39 real training points per list besides the held-out ones.
 */
export function planFor(vectors: number, dimension: number, policy: IvfPolicy): IndexPlan {
  if (vectors < policy.minVectors) {
    return { type: 'Flat', why: `${vectors} vectors, below the IVF threshold of ${policy.minVectors}` };
  }
  const maxTraining = Math.floor(MAX_TRAINING_FLOATS / dimension);
  const holdout = holdoutFor(vectors);
  const nlist = Math.min(
    Math.round(4 * Math.sqrt(vectors)),
    Math.floor((vectors - holdout) / MIN_POINTS_PER_LIST),
    Math.floor(maxTraining / MIN_POINTS_PER_LIST),
    MAX_NLIST,
  );
  if (nlist < MIN_NLIST) {
    return { type: 'Flat', why: `${vectors} vectors are too few to train ${MIN_NLIST} lists` };
  }
  const trainingPoints = Math.min(
    vectors - holdout,
    Math.max(MIN_POINTS_PER_LIST, policy.pointsPerList) * nlist,
    maxTraining,
  );
  return { type: 'IVF', nlist, trainingPoints, holdout, why: `${vectors} vectors: IVF${nlist} (4·√N lists)` };
}

/** Why the current index should be rebuilt with a different shape, or undefined when it fits. */
export function retrainReason(
  current: { type: 'Flat' | 'IVF'; nlist: number | null },
  vectors: number,
  dimension: number,
  policy: IvfPolicy,
  writing = false,
): string | undefined {
  const plan = planFor(vectors, dimension, policy);
  if (current.type === 'Flat') return plan.type === 'IVF' ? `grown to ${vectors} vectors: ${plan.why}` : undefined;
  // Hysteresis: an IVF index goes back to Flat only well below the threshold.
  if (plan.type === 'Flat') return vectors < policy.minVectors / 2 ? `shrunk to ${vectors} vectors: Flat` : undefined;
  const now = current.nlist ?? 0;
  if (nlistDrifted(now, plan.nlist, writing ? RETRAIN_DRIFT_WHILE_WRITING : RETRAIN_DRIFT)) {
    return `size drifted to ${vectors} vectors: nlist ${now} -> ${plan.nlist}`;
  }
  return undefined;
}
