// One interface for every embedding provider. Vectors leave a provider L2-normalized,
// so that inner product equals cosine similarity in the index.

export interface EmbeddingProvider {
  /** Short provider name: "openai", "hash". */
  readonly name: string;
  /** Whether nearby vectors mean nearby meaning ("semantic") or shared words ("lexical"). */
  readonly kind: 'semantic' | 'lexical';
  readonly model: string;
  /** Most texts sent in one request. */
  readonly maxBatchSize: number;
  /** Longest text accepted, in characters. Longer input is rejected, never truncated. */
  readonly maxInputChars: number;
  /**
   * Resolves the vector dimension (some endpoints only reveal it by answering) and makes
   * the fingerprint available. Safe to call more than once.
   */
  init(signal?: AbortSignal): Promise<void>;
  /** Only valid after init(). */
  readonly dimension: number;
  /** "provider:model:dimension[:variant]": vectors with different fingerprints never share an index. */
  readonly fingerprint: string;
  embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]>;
  /** Set when the model cannot embed here at all: why, and the fix (see UnavailableProvider). */
  readonly unavailable?: string | undefined;
}

export function normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const norm = Math.sqrt(sum);
  if (norm > 0 && Number.isFinite(norm)) for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
  return v;
}
