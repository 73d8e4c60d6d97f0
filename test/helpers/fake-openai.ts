// A local HTTP server that speaks the OpenAI embeddings API (POST /v1/embeddings), so the
// real `openai` client can be tested without the network. Vectors come from the hash
// embedder, so they are deterministic and related texts are related vectors. Anything other
// than the embeddings endpoint is answered 404 and recorded as unexpected, and tests assert
// that nothing unexpected arrived.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HashEmbeddingProvider } from '../../src/embeddings/hash-provider.js';

export interface EmbeddingRequest {
  model: string;
  input: string[];
  dimensions?: number;
  encoding_format?: string;
  authorization: string | undefined;
}

/** What to do with the next request; `ok` answers normally. */
export type Reply =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'delay'; ms: number }
  | { kind: 'hang' };

export class FakeOpenAI {
  readonly requests: EmbeddingRequest[] = [];
  readonly unexpected: string[] = [];
  /** Embedding requests whose connection the client closed before an answer was sent. */
  abandoned = 0;
  /** Scripted replies, consumed one per request; when empty every request is answered `ok`. */
  readonly script: Reply[] = [];
  defaultDimension = 64;
  /** Rejects inputs longer than this many characters with the API's 400. */
  maxInputChars = 1_000_000;
  /** Delay before every answer, in ms (a slow provider). */
  delayMs = 0;
  /** When set and it returns a status for a request's inputs, that request is answered with it. */
  failIf: ((input: string[]) => number | undefined) | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<import('node:net').Socket>();

  /** Settings that point the server's openai provider at this server. */
  env(dimensions: number, extra: Record<string, string> = {}): Record<string, string> {
    return {
      OPENAI_BASE_URL: this.url,
      OPENAI_API_KEY: 'sk-test',
      EMBEDDING_DIMENSIONS: String(dimensions),
      EMBEDDING_MAX_RETRIES: '0',
      ...extra,
    };
  }

  get url(): string {
    const addr = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${addr.port}/v1`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
      this.unexpected.push(`${req.method} ${req.url}`);
      return send(res, 404, { error: { message: 'not found', type: 'invalid_request_error' } });
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<EmbeddingRequest, 'authorization'> & {
      input: string | string[];
    };
    const input = Array.isArray(body.input) ? body.input : [body.input];
    this.requests.push({ ...body, input, authorization: req.headers.authorization });
    res.on('close', () => {
      if (!res.writableEnded) this.abandoned++;
    });

    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const forced = this.failIf?.(input);
    if (forced !== undefined) return send(res, forced, errorBody(forced));
    const reply = this.script.shift() ?? { kind: 'ok' };
    if (reply.kind === 'hang') return; // never answers; the client's timeout must fire
    if (reply.kind === 'status') return send(res, reply.status, reply.body ?? errorBody(reply.status), reply.headers);
    if (reply.kind === 'delay') await new Promise((r) => setTimeout(r, reply.ms));

    const tooLong = input.findIndex((t) => t.length > this.maxInputChars);
    if (tooLong >= 0) {
      return send(res, 400, {
        error: {
          message: `This model's maximum context length is 8192 tokens (input ${tooLong})`,
          type: 'invalid_request_error',
          code: 'context_length_exceeded',
        },
      });
    }
    const dim = body.dimensions ?? this.defaultDimension;
    const embedder = new HashEmbeddingProvider({ dimension: dim });
    const data = input.map((text, index) => {
      const v = embedder.embedOne(text);
      const embedding =
        body.encoding_format === 'base64'
          ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')
          : [...v];
      return { object: 'embedding', index, embedding };
    });
    send(res, 200, { object: 'list', data, model: body.model, usage: { prompt_tokens: 1, total_tokens: 1 } });
  }
}

function errorBody(status: number): unknown {
  const messages: Record<number, string> = {
    401: 'Incorrect API key provided',
    402: 'You exceeded your current quota',
    429: 'Rate limit reached',
    500: 'The server had an error',
    503: 'Service unavailable',
  };
  return { error: { message: messages[status] ?? `error ${status}`, type: 'api_error' } };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
