// Newline-delimited JSON-RPC over a pair of streams (stdin/stdout), our own instead of the SDK's
// StdioServerTransport: the SDK's closes the whole transport when one line passes its 10 MiB
// buffer (the process then exits 0 with nothing logged), and answers nothing to a line that is
// not JSON. Here a line over the limit is skipped to its end and answered with an error, a line
// that is not a JSON-RPC message gets the error JSON-RPC names for it, and the server goes on.
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { JSONRPCMessageSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

type Id = string | number | null;

/** Bytes kept from the start and the end of a line too long to keep, to find its id. */
const EDGE_BYTES = 4096;
const NEWLINE = 0x0a;

/** The id of a message cut off for its size, from its first or last bytes (null when neither shows it). */
export function idOfOversized(head: string, tail: string): Id {
  const value = String.raw`(-?\d{1,15}|"(?:[^"\\]|\\.){0,200}")`;
  const atEnd = new RegExp(String.raw`"id"\s*:\s*${value}\s*\}\s*$`, 'u').exec(tail);
  const atStart = new RegExp(String.raw`^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*${value}`, 'u').exec(
    head,
  );
  const raw = atEnd?.[1] ?? atStart?.[1];
  return raw === undefined ? null : (JSON.parse(raw) as string | number);
}

export interface LineTransportOptions {
  /** Longest line accepted, in bytes (without its newline). */
  maxLineBytes: number;
  /** What the error reply tells the client to change. */
  limitName: string;
}

export class LineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private parts: Buffer[] = [];
  private size = 0;
  /** Set while skipping the rest of a line over the limit. */
  private skipping: { bytes: number; head: string; tail: Buffer } | undefined;
  private closed = false;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly options: LineTransportOptions,
  ) {}

  async start(): Promise<void> {
    this.input.on('data', this.onData);
    this.input.on('error', this.onInputError);
    this.output.on('error', this.onInputError);
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) return;
    const line = JSON.stringify(message) + '\n';
    if (this.output.write(line)) return;
    await new Promise<void>((resolve) => this.output.once('drain', resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.input.off('data', this.onData);
    this.input.off('error', this.onInputError);
    this.output.off('error', this.onInputError);
    this.parts = [];
    this.onclose?.();
  }

  private readonly onInputError = (error: Error): void => {
    this.onerror?.(error);
  };

  private readonly onData = (chunk: Buffer | string): void => {
    let data = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    while (data.length > 0) {
      const nl = data.indexOf(NEWLINE);
      const piece = nl === -1 ? data : data.subarray(0, nl);
      this.take(piece);
      if (nl === -1) break;
      this.endLine();
      data = data.subarray(nl + 1);
    }
  };

  /** Adds bytes of the current line, switching to skipping once it passes the limit. */
  private take(piece: Buffer): void {
    if (this.skipping) {
      this.skipping.bytes += piece.length;
      this.skipping.tail = Buffer.concat([this.skipping.tail, piece]).subarray(-EDGE_BYTES);
      return;
    }
    if (this.size + piece.length <= this.options.maxLineBytes) {
      this.parts.push(piece);
      this.size += piece.length;
      return;
    }
    const kept = Buffer.concat([...this.parts, piece]);
    this.skipping = {
      bytes: kept.length,
      head: kept.subarray(0, EDGE_BYTES).toString('utf8'),
      tail: Buffer.from(kept.subarray(-EDGE_BYTES)),
    };
    this.parts = [];
    this.size = 0;
  }

  private endLine(): void {
    if (this.skipping) {
      const { bytes, head, tail } = this.skipping;
      this.skipping = undefined;
      const { maxLineBytes, limitName } = this.options;
      this.reply(
        idOfOversized(head, tail.toString('utf8')),
        -32600,
        `Invalid Request: a message of ${bytes} bytes is over the limit of ${maxLineBytes} (${limitName}); ` +
          'send fewer or smaller items per call',
      );
      return;
    }
    const line = Buffer.concat(this.parts).toString('utf8');
    this.parts = [];
    this.size = 0;
    this.handleLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  }

  private handleLine(line: string): void {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return this.reply(null, -32700, 'Parse error: the line is not JSON');
    }
    if (Array.isArray(value)) {
      return this.reply(
        null,
        -32600,
        'Invalid Request: JSON-RPC batches are not supported by MCP; send one message per line',
      );
    }
    const id = idOf(value);
    if (value === null || typeof value !== 'object' || (value as { jsonrpc?: unknown }).jsonrpc !== '2.0') {
      return this.reply(id, -32600, 'Invalid Request: not a JSON-RPC 2.0 message (it needs "jsonrpc": "2.0")');
    }
    const parsed = JSONRPCMessageSchema.safeParse(value);
    if (!parsed.success) {
      return this.reply(id, -32600, 'Invalid Request: not a JSON-RPC request, notification or response');
    }
    this.onmessage?.(parsed.data);
  }

  private reply(id: Id, code: number, message: string): void {
    // Errors in responses we sent have nobody to answer to; the rest get a reply.
    this.send({ jsonrpc: '2.0', id, error: { code, message } } as unknown as JSONRPCMessage).catch((err: unknown) =>
      this.onerror?.(err instanceof Error ? err : new Error(String(err))),
    );
  }
}

function idOf(value: unknown): Id {
  if (value === null || typeof value !== 'object') return null;
  const id = (value as { id?: unknown }).id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}
