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
): (why: string, exitCode?: number) => Promise<void> {
  let closing: Promise<void> | undefined;
  /** `exitCode` 1: the shutdown was not asked for (the transport failed); still a clean close. */
  const shutdown = (why: string, exitCode = 0): Promise<void> => {
    closing ??= (async () => {
      if (exitCode === 0) logger.info('shutting down', { why });
      else logger.error('shutting down', { why, exitCode });
      const timer = setTimeout(() => {
        logger.error('shutdown took too long; exiting');
        process.exit(1);
      }, drainMs + CLOSE_GRACE_MS);
      timer.unref();
      try {
        await stop();
        clearTimeout(timer);
        process.exit(exitCode);
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
