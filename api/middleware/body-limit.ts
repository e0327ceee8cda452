import type { MiddlewareHandler } from 'hono';
import { AppError, ClientAbortedError, formatBytes } from '../../shared/errors.js';

export interface BodyLimitOptions {
  /** Cap of a route that names none. */
  defaultMaxBytes: number;
  /** Routes with their own cap: the first whose pattern matches `METHOD /path`. */
  routes: readonly (readonly [RegExp, number])[];
  /** Streamed routes (uploads): their bodies are not read here. */
  streamed: RegExp;
}

/**
 * Every non-upload body under /v1 is read here, once, counted while it arrives whatever
 * Content-Length says, and refused past its route's cap with 413 naming the cap (a
 * Content-Length above it is refused before a byte is read). The route then reads the
 * buffered copy however it likes (c.req.json(), a schema validator, readJsonBody).
 * Runs after the key check: nothing is buffered for an unauthenticated client.
 */
export function bodyLimit(opts: BodyLimitOptions): MiddlewareHandler {
  return async (c, next) => {
    // Decided on the headers: touching `c.req.raw.body` starts reading the request,
    // which a streamed route must get whole.
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD' || opts.streamed.test(c.req.path)) return next();
    if (c.req.header('content-length') === undefined && c.req.header('transfer-encoding') === undefined) return next();
    const raw = c.req.raw;
    if (!raw.body) return next();
    const route = `${raw.method} ${c.req.path}`;
    const max = opts.routes.find(([re]) => re.test(route))?.[1] ?? opts.defaultMaxBytes;
    const tooLarge = () => {
      c.header('Connection', 'close');
      return new AppError(
        'payload_too_large',
        `The body of ${raw.method} ${c.req.path.slice(0, 120)} exceeds its limit of ${formatBytes(max)} (${max} bytes); send less per request.`,
        { limit: max },
      );
    };
    const declared = Number(c.req.header('content-length'));
    if (Number.isFinite(declared) && declared > max) throw tooLarge();
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      for await (const chunk of raw.body) {
        size += chunk.byteLength;
        if (size > max) throw tooLarge();
        chunks.push(chunk);
      }
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new ClientAbortedError();
    }
    c.req.raw = new Request(raw.url, {
      method: raw.method,
      headers: raw.headers,
      body: size ? Buffer.concat(chunks) : null,
      signal: raw.signal,
    });
    await next();
  };
}
