import type { CliIo } from '../options.js';

/** One subcommand: its name, its --help text, and what it does. Returns the exit code. */
export interface Command {
  name: string;
  summary: string;
  help: string;
  run(args: string[], io: CliIo): Promise<number>;
}

/**
 * Exit codes, documented in `media-ingest --help`: scripts branch on them.
 * 1 means "the run went through but something in it failed".
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, fatal: 3, interrupted: 130 } as const;
