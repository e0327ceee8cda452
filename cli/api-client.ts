import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { once, setMaxListeners } from 'node:events';
import { AuthError, describeFsError, FileError, InterruptedError, NetworkError, ProblemError } from './errors.js';
import type { FileBody } from './multipart.js';
import { parseRetryAfter, withRetry, type RetryInfo, type RetryPolicy } from './retry.js';

export interface ClientOptions {
  /** Base URL of the API, e.g. http://localhost:3000 */
  url: string;
  key: string;
  /** Sockets kept open to the server: the upload concurrency plus a few for look-ups. */
  maxSockets: number;
  retry: RetryPolicy;
  /** No byte from the server for this long: the attempt fails as a network error. @defaultValue 120000 */
  idleTimeoutMs?: number;
  /** Aborts every request in flight (Ctrl-C). */
  signal?: AbortSignal;
  /** Told about each retry, for the progress display. */
  onRetry?: (info: RetryInfo & { what: string }) => void;
}

export interface ApiResponse<T = unknown> {
  status: number;
  headers: http.IncomingHttpHeaders;
  data: T;
}

export interface CallOptions {
  json?: unknown;
  file?: FileBody;
  headers?: Record<string, string>;
  /** Retry network errors, 5xx and 429. @defaultValue true */
  retry?: boolean;
  /** What this request is about, for retry notices ("upload a.jpg"). */
  what?: string;
}

/**
 * Files above this size ask for `100 Continue` first, so a refused upload (duplicate,
 * over the limit, wrong key) costs a round trip instead of the bytes. Below it the
 * round trip costs more than the bytes — curl draws the line at 1 MiB too.
 */
const EXPECT_CONTINUE_FROM = 1024 * 1024;
/** A server that ignores `Expect` gets the body anyway after this long (RFC 9110 §10.1.1). */
const CONTINUE_TIMEOUT_MS = 1000;
/** Error bodies are short; never hold more than this of one. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * The HTTP side of the CLI: keep-alive connections, JSON in and out, problem+json
 * turned into typed errors, retries with backoff. Uses node:http directly rather than
 * fetch, for `Expect: 100-continue` and a streamed file body with a known length.
 */
export class ApiClient {
  readonly baseUrl: URL;
  private readonly agent: http.Agent;
  private readonly mod: typeof http | typeof https;

  constructor(private readonly opts: ClientOptions) {
    this.baseUrl = new URL(opts.url.endsWith('/') ? opts.url : `${opts.url}/`);
    this.mod = this.baseUrl.protocol === 'https:' ? https : http;
    this.agent = new this.mod.Agent({ keepAlive: true, maxSockets: opts.maxSockets });
    // Every request in flight listens on the one Ctrl-C signal: many at once is by design.
    if (opts.signal) setMaxListeners(0, opts.signal);
  }

  async call<T = unknown>(method: string, path: string, o: CallOptions = {}): Promise<ApiResponse<T>> {
    const attempt = () => this.once<T>(method, path, o);
    if (o.retry === false) return attempt();
    return withRetry(attempt, this.opts.retry, {
      ...(this.opts.signal ? { signal: this.opts.signal } : {}),
      onRetry: (info) => this.opts.onRetry?.({ ...info, what: o.what ?? `${method} ${path}` }),
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private async once<T>(method: string, path: string, o: CallOptions): Promise<ApiResponse<T>> {
    const url = new URL(path.replace(/^\//, ''), this.baseUrl);
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.opts.key}`,
      accept: 'application/json, application/problem+json',
      'user-agent': 'media-ingest-cli',
      ...o.headers,
    };
    let body: Buffer | undefined;
    if (o.json !== undefined) {
      body = Buffer.from(JSON.stringify(o.json));
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(body.length);
    } else if (o.file) {
      headers['content-type'] = o.file.contentType;
      headers['content-length'] = String(o.file.contentLength);
      if (o.file.size >= EXPECT_CONTINUE_FROM) headers.expect = '100-continue';
    } else if (method !== 'GET' && method !== 'HEAD') {
      headers['content-length'] = '0';
    }
    const res = await this.send(method, url, headers, body, o.file);
    const data = parseBody(res.headers['content-type'], res.body);
    if (res.status >= 400) {
      const problem =
        data && typeof data === 'object'
          ? (data as Record<string, unknown>)
          : { detail: res.body.toString('utf8').slice(0, 500) || undefined };
      if (res.status === 401) throw new AuthError(res.status, problem);
      throw new ProblemError(res.status, problem, parseRetryAfter(header(res.headers['retry-after'])));
    }
    return { status: res.status, headers: res.headers, data: data as T };
  }

  private send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | undefined,
    file: FileBody | undefined,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    const signal = this.opts.signal;
    if (signal?.aborted) return Promise.reject(new InterruptedError());
    return new Promise((resolve, reject) => {
      let settled = false;
      let bodySent = !file;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        fn();
      };
      const req = this.mod.request(url, { method, headers, agent: this.agent, ...(signal ? { signal } : {}) });
      req.setTimeout(this.opts.idleTimeoutMs ?? 120_000, () =>
        req.destroy(new NetworkError(`the server sent nothing for ${(this.opts.idleTimeoutMs ?? 120_000) / 1000} s`, 'ETIMEDOUT')),
      );
      req.on('error', (err) => settle(() => reject(classify(err, signal))));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= MAX_BODY_BYTES) chunks.push(c);
        });
        res.on('error', (err) => settle(() => reject(classify(err, signal))));
        res.on('end', () => {
          // Answered before the whole body went out (a refusal): this socket is mid-request
          // and must not be reused.
          if (!bodySent) req.destroy();
          settle(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        });
      });
      if (!file) {
        req.end(body);
        return;
      }
      let started = false;
      const start = () => {
        if (started || settled) return;
        started = true;
        writeFileBody(req, file).then(
          () => {
            bodySent = true;
            req.end();
          },
          (err: unknown) => req.destroy(err as Error),
        );
      };
      if (headers.expect) {
        req.once('continue', start);
        req.flushHeaders();
        const timer = setTimeout(start, CONTINUE_TIMEOUT_MS);
        req.once('response', () => clearTimeout(timer));
        req.once('close', () => clearTimeout(timer));
      } else {
        start();
      }
    });
  }
}

/** Head, exactly `size` bytes of the file, tail — with backpressure. A file that shrank or vanished fails as a FileError. */
async function writeFileBody(req: http.ClientRequest, file: FileBody): Promise<void> {
  if (!req.write(file.head)) await drained(req);
  let sent = 0;
  if (file.size > 0) {
    const stream = createReadStream(file.path, { start: 0, end: file.size - 1, highWaterMark: 256 * 1024 });
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        sent += chunk.length;
        if (!req.write(chunk)) await drained(req);
      }
    } catch (err) {
      if (err instanceof NetworkError) throw err;
      throw new FileError(describeFsError(err), { cause: err });
    } finally {
      stream.destroy();
    }
  }
  if (sent !== file.size) throw new FileError(`changed while being uploaded: ${file.size} bytes when hashed, ${sent} now`);
  if (!req.write(file.tail)) await drained(req);
}

async function drained(req: http.ClientRequest): Promise<void> {
  if (req.destroyed) throw new NetworkError('the connection closed while sending', 'ECONNRESET');
  await Promise.race([
    once(req, 'drain'),
    once(req, 'close').then(() => {
      throw new NetworkError('the connection closed while sending', 'ECONNRESET');
    }),
  ]);
}

function classify(err: unknown, signal: AbortSignal | undefined): Error {
  if (err instanceof FileError || err instanceof NetworkError || err instanceof InterruptedError) return err;
  if (signal?.aborted) return new InterruptedError();
  const e = err as NodeJS.ErrnoException;
  const code = e?.code;
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused (is the server running?)',
    ECONNRESET: 'connection reset by the server',
    EPIPE: 'connection closed by the server',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    ETIMEDOUT: 'connection timed out',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
  };
  const msg = (code && words[code]) ?? e?.message ?? String(err);
  return new NetworkError(`server unreachable: ${msg}`, code, { cause: err });
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function parseBody(type: string | undefined, body: Buffer): unknown {
  if (body.length === 0) return undefined;
  if (type && /json/i.test(type)) {
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      return undefined;
    }
  }
  return body.toString('utf8');
}
