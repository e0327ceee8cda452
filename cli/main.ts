// The media-ingest CLI process: wires the real stdin/stdout, environment and signals
// to runCli (cli/cli.ts), and exits with its code. `cli/bin.js` is the installed shim.
import { runCli } from './cli.js';

const controller = new AbortController();
let interrupts = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    // First signal: stop starting work, abort what is in flight, print the summary.
    // Second: the user means it.
    if (++interrupts > 1) process.exit(130);
    controller.abort();
  });
}
// A closed pipe (`media-ingest upload … | head`) is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
});

const code = await runCli(process.argv.slice(2), {
  env: { MEDIA_INGEST_URL: process.env.MEDIA_INGEST_URL, MEDIA_INGEST_KEY: process.env.MEDIA_INGEST_KEY },
  stdout: process.stdout,
  stderr: process.stderr,
  tty: Boolean(process.stdout.isTTY && process.stderr.isTTY),
  signal: controller.signal,
});
// Exit now rather than when the event loop drains: keep-alive sockets are closed, but a
// pending retry timer of an aborted request must not keep the process alive.
process.exitCode = code;
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(code);
