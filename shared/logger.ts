import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/**
 * A `.catch` handler for best-effort work (an undo, a cleanup, a lock release) whose
 * failure the caller survives but an operator must see: logs it at warn with `context`
 * and resolves to undefined.
 */
export function logFailure(logger: Logger, msg: string, context: Record<string, unknown> = {}): (err: unknown) => undefined {
  return (err) => {
    logger.warn({ err, ...context }, msg);
    return undefined;
  };
}

/** Structured JSON logs on stdout; one logger per process, children per component. */
export function createLogger(level: string, name: string): Logger {
  return pino({ level, name, base: { pid: process.pid } });
}
