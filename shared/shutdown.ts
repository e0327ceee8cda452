import type { Logger } from './logger.js';

/**
 * One keypress or one `kill` often arrives more than once: Ctrl-C signals the whole
 * foreground process group, and a runner in front of the service (tsx under `npm start`,
 * npm itself) relays the signal it got as well — the copies land within milliseconds.
 * A repeat inside this window is that echo, not the operator insisting.
 */
export const SIGNAL_ECHO_MS = 1_000;

/**
 * SIGTERM/SIGINT run `stop` once (graceful); another signal later than SIGNAL_ECHO_MS
 * after the first exits at once. Nothing bad input does may crash the process, so
 * unexpected errors are logged, not fatal.
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>): void {
  let firstAt: number | undefined;
  const handler = (signal: NodeJS.Signals) => {
    if (firstAt !== undefined) {
      if (Date.now() - firstAt < SIGNAL_ECHO_MS) {
        logger.info({ signal }, 'repeated signal ignored; shutting down gracefully (signal again to force)');
        return;
      }
      logger.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    firstAt = Date.now();
    logger.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception'));
}
