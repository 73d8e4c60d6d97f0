// A guard on every message a transport delivers, before the SDK parses it: the SDK's zod
// request schemas rebuild `arguments` key by key, so a "__proto__" key would vanish silently
// and deep values would reach recursive code. A tool call whose arguments fail json-guard's
// checks is answered here, as the tool error it is (isError with a hint); any other message
// nested deeper than the protocol needs is an invalid request. Requests before `initialize`
// (other than ping) get -32002, and tools/call without a tool name -32602 with a readable message.
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { MAX_NESTING_DEPTH, checkJsonTree, nestingExceeds } from '../shared/json-guard.js';
import type { Logger } from '../shared/logger.js';

/** Levels a whole message may nest: the tool arguments' limit plus the envelope around them. */
const MAX_MESSAGE_DEPTH = MAX_NESTING_DEPTH + 8;

type Refusal = { reply: JSONRPCMessage | null; why: string };

/** Requests a client may send before `initialize` (the spec allows pings). */
const BEFORE_INITIALIZE = new Set(['initialize', 'ping']);

export function refuseMessage(message: unknown, initialized = true): Refusal | undefined {
  const m = message as { id?: unknown; method?: unknown; params?: { name?: unknown; arguments?: unknown } } | null;
  if (m === null || typeof m !== 'object') return undefined;
  const id = typeof m.id === 'string' || typeof m.id === 'number' ? m.id : undefined;
  const error = (code: number, why: string): Refusal => ({
    reply: id !== undefined ? { jsonrpc: '2.0', id, error: { code, message: why } } : null,
    why,
  });
  if (!initialized && id !== undefined && typeof m.method === 'string' && !BEFORE_INITIALIZE.has(m.method)) {
    return error(-32002, `Server not initialized: send initialize before ${m.method}`);
  }
  if (
    m.method === 'tools/call' &&
    id !== undefined &&
    (m.params === null || typeof m.params !== 'object' || typeof m.params.name !== 'string')
  ) {
    return error(
      -32602,
      'Invalid params: tools/call needs params {"name": "<tool>", "arguments": {...}}; tools/list shows the tools',
    );
  }
  if (m.method === 'tools/call' && id !== undefined && m.params !== null && typeof m.params === 'object') {
    const issue = checkJsonTree(m.params.arguments);
    if (issue) {
      const text = `INVALID_INPUT: ${issue.path === '' ? 'the arguments' : issue.path} ${issue.problem} (${issue.hint})`;
      return { reply: { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text }], isError: true } }, why: text };
    }
  }
  if (nestingExceeds(message, MAX_MESSAGE_DEPTH)) {
    return error(-32600, `Invalid Request: the message nests deeper than ${MAX_MESSAGE_DEPTH} levels`);
  }
  return undefined;
}

/** Wraps the transport's message handler (set by connect) with the guard. */
export function guardTransport(transport: Transport, logger: Logger): void {
  const inner = transport.onmessage;
  if (!inner) return;
  let initialized = false;
  transport.onmessage = (message, extra) => {
    const refused = refuseMessage(message, initialized);
    if (!refused && (message as { method?: unknown }).method === 'initialize') initialized = true;
    if (!refused) return inner(message, extra);
    logger.debug('message refused before parsing', { why: refused.why });
    if (refused.reply) {
      transport
        .send(refused.reply)
        // The client is gone: nobody is left to tell.
        .catch(() => undefined);
    }
  };
}
