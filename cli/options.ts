import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ApiClient } from './api-client.js';
import { UsageError } from './errors.js';
import { DEFAULT_RETRY } from './retry.js';

/** What every command reads from the environment; nothing else in the CLI touches process.env. */
export interface CliEnv {
  MEDIA_INGEST_URL?: string | undefined;
  MEDIA_INGEST_KEY?: string | undefined;
}

/** Where a command writes, and what it may read: passed in, so tests and main differ only here. */
export interface CliIo {
  env: CliEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Show live progress (stdout and stderr are a terminal). */
  tty: boolean;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Flags every command takes. */
export const COMMON_OPTIONS = {
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean', default: false },
  retries: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies Options;

export const COMMON_HELP = `Connection (every command):
  --url <url>        server, e.g. http://localhost:3000   (env MEDIA_INGEST_URL)
  --key <key>        API key                              (env MEDIA_INGEST_KEY)
  --retries <n>      attempts after the first on network errors and 5xx (default ${DEFAULT_RETRY.retries})
  --json             machine-readable output: one JSON object per line
  -h, --help         this help`;

export function parse<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    // node's messages name the flag ("Unknown option '--foo'"); keep them, drop the hint about "--".
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, '.'));
  }
}

export function int(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`Expected --${name} to be a whole number from ${min} to ${max} but received "${value}".`);
  }
  return Number(value);
}

/** The API client from --url/--key or the environment; says exactly what is missing. */
export function clientFrom(
  values: { url?: string | undefined; key?: string | undefined; retries?: string | undefined },
  io: CliIo,
  maxSockets = 8,
  onRetry?: ConstructorParameters<typeof ApiClient>[0]['onRetry'],
): ApiClient {
  const url = values.url ?? io.env.MEDIA_INGEST_URL;
  const key = values.key ?? io.env.MEDIA_INGEST_KEY;
  if (!url) throw new UsageError('No server given: pass --url http://host:3000 or set MEDIA_INGEST_URL.');
  if (!/^https?:\/\/[^/]/i.test(url))
    throw new UsageError(`Expected the server URL to start with http:// or https:// but received "${url}".`);
  if (!key) throw new UsageError('No API key given: pass --key <key> or set MEDIA_INGEST_KEY (npm start prints one).');
  return new ApiClient({
    url,
    key,
    maxSockets,
    retry: { ...DEFAULT_RETRY, retries: int(values.retries, 'retries', DEFAULT_RETRY.retries, 0, 100) },
    signal: io.signal,
    ...(onRetry ? { onRetry } : {}),
  });
}

export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value)}\n`);
}
