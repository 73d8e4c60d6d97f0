// A guard on every message a transport delivers, before the SDK parses it: the SDK's zod
// request schemas rebuild `arguments` key by key, so a "__proto__" key would vanish silently
// and deep values would reach recursive code. A tool call whose arguments fail json-guard's
// checks is answered here, as the tool error it is (isError with a hint); any other message
// nested deeper than the protocol needs is an invalid request.
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { MAX_NESTING_DEPTH, checkJsonTree, nestingExceeds } from '../shared/json-guard.js';
import type { Logger } from '../shared/logger.js';

/** Levels a whole message may nest: the tool arguments' limit plus the envelope around them. */
const MAX_MESSAGE_DEPTH = MAX_NESTING_DEPTH + 8;

type Refusal = { reply: JSONRPCMessage | null; why: string };

export function refuseMessage(message: unknown): Refusal | undefined {
  const m = message as { id?: unknown; method?: unknown; params?: { arguments?: unknown } } | null;
  if (m === null || typeof m !== 'object') return undefined;
  const id = typeof m.id === 'string' || typeof m.id === 'number' ? m.id : undefined;
  if (m.method === 'tools/call' && id !== undefined && m.params !== null && typeof m.params === 'object') {
    const issue = checkJsonTree(m.params.arguments);
    if (issue) {
      const text = `INVALID_INPUT: ${issue.path === '' ? 'the arguments' : issue.path} ${issue.problem} (${issue.hint})`;
      return { reply: { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text }], isError: true } }, why: text };
    }
  }
  if (nestingExceeds(message, MAX_MESSAGE_DEPTH)) {
    const why = `message nests deeper than ${MAX_MESSAGE_DEPTH} levels`;
    const error = { code: -32600, message: `Invalid Request: ${why}` };
    return { reply: id !== undefined ? { jsonrpc: '2.0', id, error } : null, why };
  }
  return undefined;
}

/** Wraps the transport's message handler (set by connect) with the guard. */
export function guardTransport(transport: Transport, logger: Logger): void {
  const inner = transport.onmessage;
  if (!inner) return;
  transport.onmessage = (message, extra) => {
    const refused = refuseMessage(message);
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
