import type { Context, MiddlewareHandler } from 'hono';
import { InvalidRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../shared/errors.js';

/**
 * A small JSON request body: `undefined` when there is none (an empty body is allowed
 * where every member is optional), a 415 for another content type, a 400 for broken
 * JSON, a 413 past `maxBytes` — counted while reading, whatever Content-Length says.
 */
export async function readJsonBody(c: Context, maxBytes: number): Promise<unknown> {
  const text = await readSmallText(c, maxBytes, 'JSON body');
  if (text === '') return undefined;
  const type = c.req.header('content-type');
  if (!type || !/^application\/(.+\+)?json\b/i.test(type)) throw new UnsupportedMediaTypeError('application/json', type);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidRequestError(`The body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * A small non-file body (JSON, a url-encoded form, an Atom entry), counted while read
 * whatever Content-Length says. Past `maxBytes`: 413, and the connection closes after
 * the answer rather than draining the rest.
 */
export async function readSmallText(c: Context, maxBytes: number, what = 'request body'): Promise<string> {
  const body = c.req.raw.body;
  if (!body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      c.header('Connection', 'close');
      throw new PayloadTooLargeError(maxBytes, what);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const parsed = new WeakMap<Request, unknown>();

/**
 * Route middleware for routes declared with schemas (`createRoute({ middleware })`): runs
 * before their validators, reads the body with `read` — the route's own 415, 413 and
 * hand-written 400s, word for word — and leaves the parsed value both for the schema
 * validator that follows (an empty body is validated as `{}`) and for `parsedJsonBody`.
 */
export function jsonBodyFirst(read: (c: Context) => Promise<unknown>): MiddlewareHandler {
  return async (c, next) => {
    const body = await read(c);
    const type = c.req.header('content-type');
    const json = !!type && /^application\/(.+\+)?json\b/i.test(type);
    if (body === undefined && type && !json) {
      // An empty body under another type is no body (readJsonBody): drop the type, or the
      // validators' content-type gate would refuse what the route accepts.
      const headers = new Headers(c.req.raw.headers);
      headers.delete('content-type');
      c.req.raw = new Request(c.req.raw.url, { method: c.req.raw.method, headers, signal: c.req.raw.signal });
    }
    parsed.set(c.req.raw, body);
    // null is what an absent body means to these routes too: validated as {}.
    const text = body !== undefined && body !== null ? JSON.stringify(body) : json ? '{}' : '';
    // Hono keeps body promises here (its type says otherwise); the validator's c.req.json() reads it.
    c.req.bodyCache = { text: Promise.resolve(text) } as unknown as typeof c.req.bodyCache;
    await next();
  };
}

/** The body `jsonBodyFirst` read, as sent (`undefined` for none). */
export function parsedJsonBody(c: Context): unknown {
  return parsed.get(c.req.raw);
}
