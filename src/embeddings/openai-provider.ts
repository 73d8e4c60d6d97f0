// Embeddings from OpenAI or any OpenAI-compatible endpoint (Ollama, vLLM, LM Studio), through
// the official `openai` client. The client retries 408/409/429/5xx with backoff and honours
// `retry-after`; it never retries 400/401/403 (nor 402, which we treat as permanent too).
// Every request is bounded by a timeout.
// Loaded on first request: offline users should not pay for loading the client library.
import type OpenAI from 'openai';

type OpenAIModule = typeof import('openai');
import { EmbeddingError, errorMessage } from '../shared/errors.js';
import type { EmbeddingProvider } from './types.js';
import { normalize } from './types.js';

/** Known dimensions and token limits; other models reveal their dimension on first use. */
const KNOWN_MODELS: Record<string, { dimension: number; maxTokens: number; flexible: boolean }> = {
  'text-embedding-3-small': { dimension: 1536, maxTokens: 8191, flexible: true },
  'text-embedding-3-large': { dimension: 3072, maxTokens: 8191, flexible: true },
  'text-embedding-ada-002': { dimension: 1536, maxTokens: 8191, flexible: false },
};
/**
 * Characters per token we allow before calling the API. English averages about 4; code and
 * non-Latin scripts fewer. Three keeps ordinary text inside the limit; a text that still
 * exceeds it gets the API's 400, which is reported, never retried.
 */
const CHARS_PER_TOKEN = 3;

export interface OpenAIProviderOptions {
  model: string;
  apiKey?: string | undefined;
  baseURL?: string | undefined;
  dimensions?: number | undefined;
  batchSize?: number | undefined;
  timeoutMs?: number | undefined;
  maxRetries?: number | undefined;
  maxInputChars?: number | undefined;
}

export class OpenAIEmbeddingProvider implements EmbeddingProvider {
  readonly name = 'openai';
  readonly kind = 'semantic' as const;
  readonly model: string;
  readonly maxBatchSize: number;
  readonly maxInputChars: number;
  private sdk: Promise<{ client: OpenAI; mod: OpenAIModule }> | undefined;
  private readonly clientOptions: ConstructorParameters<typeof OpenAI>[0];
  private readonly requestedDimensions: number | undefined;
  private readonly sendDimensions: boolean;
  private resolvedDimension: number | undefined;
  private readonly endpoint: string;

  constructor(options: OpenAIProviderOptions) {
    this.model = options.model;
    const known = KNOWN_MODELS[options.model];
    this.requestedDimensions = options.dimensions;
    this.sendDimensions = options.dimensions !== undefined && (known?.flexible ?? true);
    if (options.dimensions !== undefined && known && !known.flexible && options.dimensions !== known.dimension) {
      throw new EmbeddingError(`model ${options.model} only makes ${known.dimension}-dimensional vectors`, {
        permanent: true,
        hint: `unset EMBEDDING_DIMENSIONS or set it to ${known.dimension}`,
      });
    }
    this.resolvedDimension = options.dimensions ?? known?.dimension;
    this.maxBatchSize = options.batchSize ?? 128;
    this.maxInputChars = options.maxInputChars ?? (known?.maxTokens ?? 8191) * CHARS_PER_TOKEN;
    this.endpoint = options.baseURL ?? 'https://api.openai.com/v1';
    this.clientOptions = {
      // Local OpenAI-compatible servers need no key, but the client insists on one.
      apiKey: options.apiKey ?? 'no-key',
      baseURL: this.endpoint,
      timeout: options.timeoutMs ?? 30_000,
      maxRetries: options.maxRetries ?? 4,
    };
  }

  private loadSdk(): Promise<{ client: OpenAI; mod: OpenAIModule }> {
    this.sdk ??= import('openai').then((mod) => ({ client: new mod.default(this.clientOptions), mod }));
    return this.sdk;
  }

  get dimension(): number {
    if (this.resolvedDimension === undefined)
      throw new Error('OpenAIEmbeddingProvider.init() has not resolved the dimension yet');
    return this.resolvedDimension;
  }

  get fingerprint(): string {
    return `openai:${this.model}:${this.dimension}`;
  }

  async init(signal?: AbortSignal): Promise<void> {
    if (this.resolvedDimension !== undefined) return;
    const [probe] = await this.request(['dimension probe'], signal);
    this.resolvedDimension = probe!.length;
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    for (const [i, t] of texts.entries()) {
      if (t.length > this.maxInputChars) {
        throw new EmbeddingError(
          `text ${i} has ${t.length} characters; model ${this.model} accepts at most ${this.maxInputChars}`,
          { permanent: true, hint: 'split the text into several shorter memories' },
        );
      }
    }
    const out: Float32Array[] = [];
    for (let start = 0; start < texts.length; start += this.maxBatchSize) {
      const batch = texts.slice(start, start + this.maxBatchSize);
      out.push(...(await this.request(batch, signal)));
    }
    if (this.resolvedDimension === undefined && out[0]) this.resolvedDimension = out[0].length;
    return out;
  }

  private async request(input: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    let response: OpenAI.CreateEmbeddingResponse;
    const { client, mod } = await this.loadSdk();
    try {
      response = await client.embeddings.create(
        {
          model: this.model,
          input: [...input],
          ...(this.sendDimensions && this.requestedDimensions !== undefined
            ? { dimensions: this.requestedDimensions }
            : {}),
        },
        signal ? { signal } : {},
      );
    } catch (err) {
      throw toEmbeddingError(err, this.endpoint, mod);
    }
    const data = [...response.data].sort((a, b) => a.index - b.index);
    if (data.length !== input.length) {
      throw new EmbeddingError(`the endpoint returned ${data.length} embeddings for ${input.length} inputs`, {
        permanent: false,
      });
    }
    const expected = this.resolvedDimension;
    return data.map((d) => {
      const v = Float32Array.from(d.embedding as number[]);
      if (expected !== undefined && v.length !== expected) {
        throw new EmbeddingError(`the endpoint returned a ${v.length}-dimensional vector; expected ${expected}`, {
          permanent: true,
          hint: 'check EMBEDDING_MODEL and EMBEDDING_DIMENSIONS',
        });
      }
      return normalize(v);
    });
  }
}

function toEmbeddingError(err: unknown, endpoint: string, OpenAI: OpenAIModule): EmbeddingError {
  if (err instanceof OpenAI.APIError && err.status !== undefined) {
    const status = err.status;
    const permanent =
      status === 400 || status === 401 || status === 402 || status === 403 || status === 404 || status === 422;
    const hints: Record<number, string> = {
      400: 'the input was rejected (often: longer than the model accepts); shorten the text',
      401: 'check OPENAI_API_KEY',
      402: 'the account has no credit left',
      403: 'the key is not allowed to use this model',
      404: 'check EMBEDDING_MODEL and OPENAI_BASE_URL',
      429: 'the provider is rate limiting; try again shortly',
    };
    return new EmbeddingError(`embedding request failed with HTTP ${status}: ${err.message}`, {
      cause: err,
      permanent,
      status,
      hint: hints[status] ?? 'the provider failed; try again shortly',
    });
  }
  if (err instanceof OpenAI.APIConnectionTimeoutError) {
    return new EmbeddingError(`embedding request to ${endpoint} timed out`, {
      cause: err,
      permanent: false,
      hint: 'the provider is slow or unreachable; try again, or raise EMBEDDING_TIMEOUT_MS',
    });
  }
  if (err instanceof OpenAI.APIUserAbortError) {
    return new EmbeddingError('embedding request was cancelled', { cause: err, permanent: false });
  }
  return new EmbeddingError(`embedding request to ${endpoint} failed: ${errorMessage(err)}`, {
    cause: err,
    permanent: false,
    hint: 'the provider is unreachable; check OPENAI_BASE_URL and the network',
  });
}
