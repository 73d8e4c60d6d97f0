import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

const SHUTDOWN_TIMEOUT_MS = 15_000;

/**
 * Runs `stop` once on SIGINT / SIGTERM (and whatever else calls the returned function), then
 * exits 0; exits 1 if stopping fails or takes longer than 15 s.
 */
export function installShutdown(logger: Logger, stop: () => Promise<void>): (why: string) => Promise<void> {
  let closing: Promise<void> | undefined;
  const shutdown = (why: string): Promise<void> => {
    closing ??= (async () => {
      logger.info('shutting down', { why });
      const timer = setTimeout(() => {
        logger.error('shutdown took too long; exiting');
        process.exit(1);
      }, SHUTDOWN_TIMEOUT_MS);
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
