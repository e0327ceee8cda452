import { Hono } from 'hono';
import { SHA256_HEX } from '../../shared/catalog/checksums.js';
import { InvalidRequestError, NotFoundError, UnsupportedMediaTypeError } from '../../shared/errors.js';
import type { AppDeps, AppEnv } from '../deps.js';

/** Most checksums in one pre-flight call: one round trip for a whole batch of a CLI run. */
export const MAX_PREFLIGHT = 10_000;

/**
 * Pre-flight for batch clients: which of these files exist already, and as which
 * resources — so they upload only the rest. Failed resources do not count.
 */
export function checksumsRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  app.post('/v1/checksums', async (c) => {
    const type = c.req.header('content-type');
    if (!type || !/^application\/(.+\+)?json\b/i.test(type)) throw new UnsupportedMediaTypeError('application/json', type);
    let body: { checksums?: unknown; library?: unknown };
    try {
      body = await c.req.json();
    } catch {
      throw new InvalidRequestError('Expected a JSON object such as {"checksums":["<64 hex digits>", …]} but the body is not valid JSON.');
    }
    const list = body?.checksums;
    if (!Array.isArray(list)) throw new InvalidRequestError('Expected "checksums" to be an array of SHA-256 values as 64 hex digits.');
    if (list.length > MAX_PREFLIGHT) {
      throw new InvalidRequestError(`Expected at most ${MAX_PREFLIGHT} checksums per call but received ${list.length}; split the list.`, { limit: MAX_PREFLIGHT });
    }
    const shas = list.map((v, i) => {
      if (typeof v !== 'string' || !SHA256_HEX.test(v.toLowerCase())) {
        throw new InvalidRequestError(`Expected checksums[${i}] to be a SHA-256 as 64 hex digits but received ${JSON.stringify(String(v).slice(0, 80))}.`);
      }
      return v.toLowerCase();
    });
    const unique = [...new Set(shas)];
    const library =
      body.library === undefined || body.library === null ? undefined : (await deps.catalog.getLibrary(String(body.library))).id;
    const found = await deps.catalog.checksums.lookup(unique, library);
    return c.json({
      existing: Object.fromEntries(found),
      missing: unique.filter((s) => !found.has(s)),
    });
  });

  app.get('/v1/checksums/:sha', async (c) => {
    const sha = c.req.param('sha').toLowerCase();
    if (!SHA256_HEX.test(sha)) throw new InvalidRequestError(`Expected a SHA-256 as 64 hex digits but received ${JSON.stringify(sha.slice(0, 80))}.`);
    const q = c.req.query('library');
    const library = q ? (await deps.catalog.getLibrary(q)).id : undefined;
    const found = (await deps.catalog.checksums.lookup([sha], library)).get(sha);
    if (!found) throw new NotFoundError('checksum', sha);
    return c.json({ checksum: sha, resources: found });
  });

  return app;
}
