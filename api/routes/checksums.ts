import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { SHA256_HEX } from '../../shared/catalog/checksums.js';
import { InvalidRequestError, NotFoundError, UnsupportedMediaTypeError } from '../../shared/errors.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { jsonBodyFirst, parsedJsonBody } from '../json-body.js';
import { problems, requiredCheckedByHandler, jsonBody } from '../schemas.js';
import { validationHook } from '../validation.js';
import { allowedLibraries } from '../middleware/scope.js';

/** Most checksums in one pre-flight call: one round trip for a whole batch of a CLI run. */
export const MAX_PREFLIGHT = 10_000;

const sha256Doc = { type: 'string', pattern: '^[0-9a-fA-F]{64}$', description: 'SHA-256 as 64 hex digits' } as const;

/** Where each existing checksum is: resources by id, library and status. */
const matches = z.array(z.object({}).passthrough());

/**
 * The request's members are checked by the handler (the messages name the bad index);
 * the schema documents them and refuses a `library` that is neither a name nor an id.
 */
const preflight = createRoute({
  method: 'post',
  path: '/v1/checksums',
  tags: ['uploads'],
  summary: 'Pre-flight: which of these files exist already, and as which resources',
  description: `Batch clients upload only the \`missing\` ones. At most ${MAX_PREFLIGHT} checksums per call. Failed resources do not count.`,
  security: [{ bearer: [] }],
  middleware: jsonBodyFirst(readPreflight),
  request: {
    body: jsonBody(
      z
        .object({
          checksums: requiredCheckedByHandler({ type: 'array', items: sha256Doc, maxItems: MAX_PREFLIGHT }),
          library: z
            .union([z.string(), z.number()])
            .nullable()
            .optional()
            .openapi({ description: 'Only this library (id or name)', example: 'photos' }),
        })
        .passthrough(),
    ),
  },
  responses: {
    200: {
      description: 'Existing checksums with their resources, and the missing ones',
      content: { 'application/json': { schema: z.object({ existing: z.record(z.string(), matches), missing: z.array(z.string()) }) } },
    },
    ...problems({ 400: 'Not a list of SHA-256 values, or too many', 404: 'No such library', 415: 'Not application/json' }),
  },
});

const lookup = createRoute({
  method: 'get',
  path: '/v1/checksums/{sha}',
  tags: ['uploads'],
  summary: 'The resources holding a file of this SHA-256',
  security: [{ bearer: [] }],
  request: {
    params: z.object({ sha: z.string().openapi(sha256Doc) }),
    query: z.object({ library: z.string().optional().openapi({ description: 'Only this library (id or name)' }) }),
  },
  responses: {
    200: {
      description: 'The resources',
      content: { 'application/json': { schema: z.object({ checksum: z.string(), resources: matches }) } },
    },
    ...problems({ 400: 'Not 64 hex digits', 404: 'No resource has it, or no such library' }),
  },
});

async function readPreflight(c: Context): Promise<unknown> {
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
    throw new InvalidRequestError(`Expected at most ${MAX_PREFLIGHT} checksums per call but received ${list.length}; split the list.`, {
      limit: MAX_PREFLIGHT,
    });
  }
  list.forEach((v, i) => {
    if (typeof v !== 'string' || !SHA256_HEX.test(v.toLowerCase())) {
      throw new InvalidRequestError(
        `Expected checksums[${i}] to be a SHA-256 as 64 hex digits but received ${JSON.stringify(String(v).slice(0, 80))}.`,
      );
    }
  });
  return body;
}

/**
 * Pre-flight for batch clients: which of these files exist already, and as which
 * resources — so they upload only the rest. Failed resources do not count.
 */
/** A scoped key learns only of matches in its own libraries. */
function onlyAllowed<T extends { library: number }>(c: Context, found: Map<string, T[]>): Map<string, T[]> {
  const allowed = allowedLibraries(c);
  if (allowed === '*') return found;
  const out = new Map<string, T[]>();
  for (const [sha, matches] of found) {
    const mine = matches.filter((m) => allowed.includes(m.library));
    if (mine.length) out.set(sha, mine);
  }
  return out;
}

export function checksumsRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(preflight, async (c) => {
    const body = parsedJsonBody(c) as { checksums: string[] };
    const unique = [...new Set(body.checksums.map((v) => v.toLowerCase()))];
    const requested = c.req.valid('json').library;
    const library = requested === undefined || requested === null ? undefined : (await deps.catalog.getLibrary(String(requested))).id;
    const found = onlyAllowed(c, await deps.catalog.checksums.lookup(unique, library));
    return c.json(
      {
        existing: Object.fromEntries(found),
        missing: unique.filter((s) => !found.has(s)),
      },
      200,
    );
  });

  app.openapi(lookup, async (c) => {
    const sha = c.req.valid('param').sha.toLowerCase();
    if (!SHA256_HEX.test(sha))
      throw new InvalidRequestError(`Expected a SHA-256 as 64 hex digits but received ${JSON.stringify(sha.slice(0, 80))}.`);
    const q = c.req.valid('query').library;
    const library = q ? (await deps.catalog.getLibrary(q)).id : undefined;
    const found = onlyAllowed(c, await deps.catalog.checksums.lookup([sha], library)).get(sha);
    if (!found) throw new NotFoundError('checksum', sha);
    return c.json({ checksum: sha, resources: found }, 200);
  });

  return app;
}
