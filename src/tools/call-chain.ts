// The steps every tool call goes through, as a chain (each step gets the call and the next
// step): track it for shutdown, bound it by a deadline, turn failures into tool errors. The
// call's signal combines the client's cancellation and the deadline; handlers pass it on to
// the provider request, the index queue and the waits in between.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { withDeadline } from '../shared/abort.js';
import type { CallTracker } from '../shared/call-tracker.js';
import { MemoryError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

export interface ToolCall {
  tool: string;
  signal: AbortSignal;
}

export type Handler = (call: ToolCall) => Promise<CallToolResult>;
export type Step = (call: ToolCall, next: Handler) => Promise<CallToolResult>;

/** Runs `steps` in order around `last`. */
export function compose(steps: readonly Step[], last: Handler): Handler {
  return steps.reduceRight<Handler>((next, step) => (call) => step(call, next), last);
}

/** Told of every finished call: its tool, whether it answered with an error, and how long it took. */
export type CallObserver = (tool: string, outcome: 'ok' | 'error', seconds: number) => void;

/** Times the call as its client sees it (outermost, so tool errors and timeouts count as errors). */
export function measure(observe: CallObserver | undefined): Step {
  return async (call, next) => {
    if (!observe) return next(call);
    const started = performance.now();
    let outcome: 'ok' | 'error' = 'error';
    try {
      const result = await next(call);
      if (result.isError !== true) outcome = 'ok';
      return result;
    } finally {
      observe(call.tool, outcome, (performance.now() - started) / 1000);
    }
  };
}

/** Registers the call with the tracker, with a controller that cancels it at shutdown. */
export function track(calls: CallTracker | undefined): Step {
  return (call, next) => {
    if (!calls) return next(call);
    const controller = new AbortController();
    const work = next({ ...call, signal: AbortSignal.any([call.signal, controller.signal]) });
    return calls.track(work, controller);
  };
}

/** Aborts the call's signal after `ms`, and answers with a TIMEOUT error then, even if the handler ignores it. */
export function deadline(ms: number | undefined): Step {
  return async (call, next) => {
    if (ms === undefined) return next(call);
    const controller = new AbortController();
    const timeout = () =>
      new MemoryError('TIMEOUT', `${call.tool} did not finish within ${ms} ms`, {
        hint:
          'whatever it committed is complete and the rest was cancelled (each write is one transaction); ' +
          'check with memory_get or memory_search before retrying',
      });
    const timer = setTimeout(() => controller.abort(timeout()), ms);
    try {
      const signal = AbortSignal.any([call.signal, controller.signal]);
      return await withDeadline(next({ ...call, signal }), { signal, timeoutError: timeout });
    } finally {
      clearTimeout(timer);
    }
  };
}

/** Failures become `isError` results with a hint; nothing thrown reaches the protocol layer. */
export function mapErrors(logger: Logger): Step {
  return async (call, next) => {
    try {
      return await next(call);
    } catch (err) {
      return toolError(err, call.tool, logger);
    }
  };
}

export function toolError(err: unknown, toolName: string, logger: Logger): CallToolResult {
  if (err instanceof MemoryError) {
    const hint = err.hint ? ` (${err.hint})` : '';
    return { content: [{ type: 'text', text: `${err.code}: ${err.message}${hint}` }], isError: true };
  }
  logger.error(`tool ${toolName} failed unexpectedly`, { error: errorMessage(err) });
  return {
    content: [
      { type: 'text', text: `INTERNAL: ${toolName} failed: ${errorMessage(err)} (nothing was lost; try again)` },
    ],
    isError: true,
  };
}
