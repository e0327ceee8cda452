import type { Command } from './commands/command.js';
import { EXIT } from './commands/command.js';
import { librariesCommand } from './commands/libraries.js';
import { reindexCommand } from './commands/reindex.js';
import { reprocessCommand } from './commands/reprocess.js';
import { statusCommand } from './commands/status.js';
import { uploadCommand } from './commands/upload.js';
import { AuthError, InterruptedError, NetworkError, ProblemError, UsageError } from './errors.js';
import type { CliIo } from './options.js';

const COMMANDS: Command[] = [uploadCommand, statusCommand, reprocessCommand, reindexCommand, librariesCommand];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: media-ingest <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Server and key: --url/--key, or MEDIA_INGEST_URL and MEDIA_INGEST_KEY.
Run "media-ingest <command> --help" for a command's options and examples.

Exit codes: 0 ok, 1 something failed (the output says what), 2 bad usage,
3 refused outright (wrong key, unknown library), 130 interrupted.

Examples:
  export MEDIA_INGEST_URL=http://localhost:3000 MEDIA_INGEST_KEY=mi_…
  media-ingest upload ./photos --library holidays --wait
  media-ingest libraries
  media-ingest status ingest-7-1 --wait
`;
}

/**
 * Runs one command line and returns the exit code. Errors a command does not handle
 * itself end here, as one line that says what to do — never a stack trace.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    io.stdout.write(topic ? topic.help : usage());
    return name || rest.length ? EXIT.ok : EXIT.usage;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`media-ingest: unknown command "${name}".\n\n${usage()}`);
    return EXIT.usage;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`media-ingest ${name}: ${err.message}\nRun "media-ingest ${name} --help" for usage.\n`);
      return EXIT.usage;
    }
    if (err instanceof AuthError) {
      io.stderr.write(`media-ingest ${name}: the server refused the API key: ${err.detail}\nCheck --key or MEDIA_INGEST_KEY.\n`);
      return EXIT.fatal;
    }
    if (err instanceof ProblemError) {
      // The server's own words (RFC 9457 detail) — e.g. "No library "x" exists." or, for
      // an endpoint this server does not have yet, "No route "POST /v1/…" exists."
      io.stderr.write(`media-ingest ${name}: ${err.detail} (HTTP ${err.status})\n`);
      return err.status < 500 ? EXIT.fatal : EXIT.failed;
    }
    if (err instanceof NetworkError) {
      io.stderr.write(`media-ingest ${name}: ${err.message}\n`);
      return EXIT.failed;
    }
    if (err instanceof InterruptedError) {
      io.stderr.write(`media-ingest ${name}: interrupted\n`);
      return EXIT.interrupted;
    }
    io.stderr.write(`media-ingest ${name}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.failed;
  }
}
