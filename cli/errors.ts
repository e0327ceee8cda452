/**
 * The CLI's own error types. Each says what happened in words a user can act on; the
 * commands decide what is fatal (a wrong key) and what is per file (an unreadable file).
 */

/** Bad flags or arguments: the command's usage is printed with it. Exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The server answered with an error status; `detail` is its RFC 9457 problem detail. */
export class ProblemError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  readonly detail: string;
  /** The whole problem body (extension members such as `matches`). */
  readonly problem: Record<string, unknown>;
  /** From `Retry-After`, for 429 and 503. */
  readonly retryAfterMs: number | undefined;
  constructor(status: number, problem: Record<string, unknown>, retryAfterMs?: number) {
    const detail = typeof problem.detail === 'string' ? problem.detail : `the server answered HTTP ${status}`;
    super(detail);
    this.name = 'ProblemError';
    this.status = status;
    this.code = typeof problem.code === 'string' ? problem.code : undefined;
    this.detail = detail;
    this.problem = problem;
    this.retryAfterMs = retryAfterMs;
  }
}

/** 401: every further request would fail the same way, so the run stops at once. Exit code 3. */
export class AuthError extends ProblemError {
  constructor(status: number, problem: Record<string, unknown>) {
    super(status, problem);
    this.name = 'AuthError';
  }
}

/** The server could not be reached or the connection broke (refused, reset, timed out). */
export class NetworkError extends Error {
  readonly errno: string | undefined;
  constructor(message: string, errno?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NetworkError';
    this.errno = errno;
  }
}

/** A local file could not be read: gone, no permission, changed while being sent. */
export class FileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FileError';
  }
}

/** The user interrupted the run (Ctrl-C). */
export class InterruptedError extends Error {
  constructor() {
    super('interrupted');
    this.name = 'InterruptedError';
  }
}

/** A local file-system error in words: what happened to the file, not an errno. */
export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return 'vanished: the file no longer exists';
    case 'EACCES':
    case 'EPERM':
      return 'unreadable: permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ELOOP':
      return 'symbolic link loop';
    case 'EIO':
      return 'unreadable: I/O error';
    default:
      return `unreadable: ${(err as Error)?.message ?? String(err)}`;
  }
}
