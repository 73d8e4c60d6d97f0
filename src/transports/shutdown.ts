import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

/** Time for the index snapshot and the store to close once calls are drained (a large snapshot takes seconds). */
const CLOSE_GRACE_MS = 15_000;

/**
 * Runs `stop` once on SIGINT / SIGTERM (and whatever else calls the returned function), then
 * exits 0; exits 1 if stopping fails or takes longer than the drain time plus a grace period.
 */
export function installShutdown(
  logger: Logger,
  drainMs: number,
  stop: () => Promise<void>,
): (why: string) => Promise<void> {
  let closing: Promise<void> | undefined;
  const shutdown = (why: string): Promise<void> => {
    closing ??= (async () => {
      logger.info('shutting down', { why });
      const timer = setTimeout(() => {
        logger.error('shutdown took too long; exiting');
        process.exit(1);
      }, drainMs + CLOSE_GRACE_MS);
      timer.unref();
      try {
        await stop();
        clearTimeout(timer);
        process.exit(0);
      } catch (err) {
        logger.error('shutdown failed', { error: errorMessage(err) });
        process.exit(1);
      }
    })();
    return closing;
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  return shutdown;
}
