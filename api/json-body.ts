import type { Context } from 'hono';
import { InvalidRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../shared/errors.js';

/**
 * A small JSON request body: `undefined` when there is none (an empty body is allowed
 * where every member is optional), a 415 for another content type, a 400 for broken
 * JSON, a 413 past `maxBytes` — counted while reading, whatever Content-Length says.
 */
export async function readJsonBody(c: Context, maxBytes: number): Promise<unknown> {
  const body = c.req.raw.body;
  if (!body) return undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new PayloadTooLargeError(maxBytes, 'JSON body');
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  const type = c.req.header('content-type');
  if (!type || !/^application\/(.+\+)?json\b/i.test(type)) throw new UnsupportedMediaTypeError('application/json', type);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new InvalidRequestError(`The body is not valid JSON: ${(err as Error).message}`);
  }
}
