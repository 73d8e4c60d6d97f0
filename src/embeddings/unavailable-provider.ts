import { EmbeddingError } from '../shared/errors.js';
import type { EmbeddingProvider } from './types.js';

/**
 * Stands for the model a data directory's vectors were made with when that model cannot be used
 * here (its provider is not installed or not configured) and no setting asked for another one:
 * the index of that model still opens (health describes it), every embedding request fails with
 * `reason` and its fix, so writes stay pending and searches answer from the keyword channel,
 * and nothing is re-embedded with a model nobody chose.
 */
export class UnavailableProvider implements EmbeddingProvider {
  readonly name: string;
  readonly kind = 'semantic' as const;
  readonly model: string;
  readonly maxBatchSize = 1;
  readonly maxInputChars = Number.MAX_SAFE_INTEGER;
  readonly dimension: number;

  constructor(
    readonly fingerprint: string,
    /** Why, and what to do: said in health, in the log and in every search reply. */
    readonly unavailable: string,
  ) {
    const [name, ...rest] = fingerprint.split(':');
    this.name = name ?? fingerprint;
    this.model = rest.slice(0, -1).join(':');
    this.dimension = Number(rest.at(-1));
  }

  async init(): Promise<void> {}

  embed(): Promise<Float32Array[]> {
    // 404: the model is not there; the backfill leaves memories pending instead of retrying.
    return Promise.reject(new EmbeddingError(this.unavailable, { permanent: true, status: 404 }));
  }
}
