import { Hono } from 'hono';
import { PERMISSIONS, type ApiKeyRecord, type ApiKeyStore, type Permission } from '../../shared/catalog/api-keys.js';
import { InvalidRequestError, NotFoundError } from '../../shared/errors.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { readJsonBody } from '../json-body.js';

const MAX_LIBRARIES = 1000;

/**
 * Scoped API keys, behind ADMIN_KEYS (issue 21):
 * - `POST /v1/admin/keys` `{"name", "libraries": ["photos", …] | ["*"], "permissions":
 *   ["read","upload","delete","reprocess"], "expiresAt"?}` → 201 with the key, shown
 *   this once (only its SHA-256 is stored);
 * - `GET /v1/admin/keys` lists them without secrets;
 * - `DELETE /v1/admin/keys/{id}` revokes one; every API replica refuses it within 2 s.
 * The keys in API_KEYS stay full-access keys and are not listed here.
 */
export function apiKeysRoutes(deps: AppDeps, store: ApiKeyStore) {
  const app = new Hono<AppEnv>();

  app.post('/v1/admin/keys', async (c) => {
    const body = await readJsonBody(c, deps.config.http.jsonBodyMaxBytes);
    const input = await parseNewKey(deps, body);
    const { record, key } = await store.create(input);
    c.header('Location', `/v1/admin/keys/${record.id}`);
    c.header('Cache-Control', 'no-store');
    return c.json({ ...view(record), key }, 201);
  });

  app.get('/v1/admin/keys', async (c) => c.json({ keys: (await store.list()).map(view) }));

  app.delete('/v1/admin/keys/:id', async (c) => {
    const id = c.req.param('id');
    if (!/^[0-9a-f]{16}$/.test(id) || !(await store.revoke(id))) throw new NotFoundError('API key', id.slice(0, 40));
    return c.body(null, 204);
  });

  return app;
}

function view(r: ApiKeyRecord) {
  return {
    id: r.id,
    name: r.name,
    libraries: r.libraries === '*' ? ['*'] : r.libraryNames,
    permissions: r.permissions,
    expiresAt: r.expiresAt,
    createdAt: r.createdAt,
    links: { self: `/v1/admin/keys/${r.id}` },
  };
}

const EXAMPLE = '{"name":"gallery","libraries":["photos"],"permissions":["read"]}';

async function parseNewKey(deps: AppDeps, body: unknown): Promise<Omit<ApiKeyRecord, 'id' | 'createdAt'>> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new InvalidRequestError(`Expected a JSON object such as ${EXAMPLE}.`);
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !['name', 'libraries', 'permissions', 'expiresAt'].includes(k));
  if (unknown.length)
    throw new InvalidRequestError(
      `Expected only name, libraries, permissions and expiresAt but received ${unknown.map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}.`,
    );
  const name = b.name;
  if (typeof name !== 'string' || name.trim() === '' || name.length > 100) {
    throw new InvalidRequestError(
      `Expected name to be 1-100 characters that say who uses the key but received ${JSON.stringify(typeof name === 'string' ? name.slice(0, 40) : (name ?? null))}.`,
    );
  }
  const libs = b.libraries;
  if (
    !Array.isArray(libs) ||
    libs.length === 0 ||
    libs.length > MAX_LIBRARIES ||
    libs.some((l) => typeof l !== 'string' && typeof l !== 'number')
  ) {
    throw new InvalidRequestError(
      `Expected libraries to be a list of 1-${MAX_LIBRARIES} library names or ids, or ["*"] for every library.`,
    );
  }
  let libraries: number[] | '*' = '*';
  let libraryNames: string[] = [];
  if (libs.includes('*')) {
    if (libs.length > 1) throw new InvalidRequestError('Expected ["*"] alone (every library) or a list of libraries, not both.');
  } else {
    const found = await Promise.all(libs.map((l) => deps.catalog.findLibrary(String(l))));
    const missing = libs.filter((_, i) => !found[i]);
    if (missing.length)
      throw new InvalidRequestError(
        `Expected existing libraries but these do not exist: ${missing.map((m) => JSON.stringify(String(m).slice(0, 64))).join(', ')}.`,
      );
    libraries = [...new Set(found.map((l) => l!.id))];
    libraryNames = [...new Set(found.map((l) => l!.name))];
  }
  const perms = b.permissions;
  if (!Array.isArray(perms) || perms.length === 0 || perms.some((p) => !(PERMISSIONS as readonly unknown[]).includes(p))) {
    throw new InvalidRequestError(
      `Expected permissions to be a non-empty list of ${PERMISSIONS.join(', ')} but received ${JSON.stringify(perms ?? null).slice(0, 120)}.`,
    );
  }
  let expiresAt: string | null = null;
  if (b.expiresAt !== undefined && b.expiresAt !== null) {
    const t = typeof b.expiresAt === 'string' ? Date.parse(b.expiresAt) : NaN;
    if (!Number.isFinite(t) || t <= Date.now()) {
      throw new InvalidRequestError(
        `Expected expiresAt to be a future ISO 8601 time such as "2030-01-01T00:00:00Z" but received ${JSON.stringify(b.expiresAt).slice(0, 60)}.`,
      );
    }
    expiresAt = new Date(t).toISOString();
  }
  return { name: name.trim(), libraries, libraryNames, permissions: [...new Set(perms as Permission[])], expiresAt };
}
