// Attack surface: every API key opened every library with every permission, and keys
// lived only in the environment. Now: scoped keys (POST /v1/admin/keys), shown once and
// stored hashed, 403 problem+json outside their libraries or permissions, listings show
// only their libraries, revocation reaches every replica within 2 s; API_KEYS stay full.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopeRuleFor } from '../../api/middleware/scope.js';
import { startApi, type RunningApi } from '../../api/server.js';
import { createLogger } from '../../shared/logger.js';
import { makeJpeg } from '../harness/images.js';
import { form, startService, storageKinds, TEST_KEY, type StorageKind, type TestService } from '../harness/service.js';
import { CREDENTIALS } from '../harness/credentials.js';
import { createLibrary } from '../harness/libraries.js';
import { routeTable } from '../harness/route-table.js';

const ADMIN_KEY = CREDENTIALS.adminKey;

describe('the scope table', () => {
  it('names what a scoped key needs on every /v1 route of the app (none is closed to scoped keys by omission)', async () => {
    const svc = await startService('fs', { worker: false });
    try {
      const v1 = routeTable(svc).filter((r) => / \/v1\//.test(r) && !/ \/v1\/admin\//.test(r));
      expect(v1.length).toBeGreaterThan(20);
      const uncovered = v1.filter((r) => {
        const [method, p] = r.split(' ') as [string, string];
        return !scopeRuleFor(method, p.replace(/:\w+/g, '1'));
      });
      expect(uncovered).toEqual([]);
    } finally {
      // The app opened BullMQ queues (the admin lanes) on the service's connection: let
      // their first commands answer before it closes, or they reject unhandled.
      await new Promise((r) => setTimeout(r, 1000));
      await svc.close();
    }
  });
});

describe.each<StorageKind>(storageKinds())('scoped API keys (%s store)', (storage) => {
  let svc: TestService;
  let replica: RunningApi;
  const ids: Record<string, number> = {};
  beforeAll(async () => {
    svc = await startService(storage, { env: { ADMIN_KEYS: ADMIN_KEY } });
    // A second API replica on the same Redis prefix: revocation must reach it too.
    replica = await startApi(svc.config, svc.core, svc.config.redis.url!, createLogger('silent', 'test'));
    for (const name of ['photos', 'private-docs']) await createLibrary(svc, { name });
    for (const lib of ['photos', 'private-docs']) {
      const res = await svc.fetch(`/v1/libraries/${lib}/files?wait=30`, {
        method: 'POST',
        body: form({ visibility: 'private', file: { name: `${lib}.jpg`, data: await makeJpeg(40 + lib.length, 30), type: 'image/jpeg' } }),
      });
      expect(res.status).toBe(204);
      ids[lib] = Number(res.headers.get('x-resource-id'));
    }
  });
  afterAll(async () => {
    await replica?.close();
    await svc?.close();
  });

  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${svc.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
    });
  const as = (key: string, path: string, init: RequestInit = {}, base = svc.url) =>
    fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string>) } });
  async function newKey(body: Record<string, unknown>): Promise<{ id: string; key: string }> {
    const res = await admin('/v1/admin/keys', { method: 'POST', body: JSON.stringify(body) });
    expect(res.status, await res.clone().text()).toBe(201);
    return res.json();
  }

  it('POST /v1/admin/keys answers the key once; GET lists it without a secret; Redis holds only its SHA-256', async () => {
    const res = await admin('/v1/admin/keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'gallery', libraries: ['photos'], permissions: ['read'] }),
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string; key: string; libraries: string[]; permissions: string[] };
    expect(created).toMatchObject({ name: 'gallery', libraries: ['photos'], permissions: ['read'], expiresAt: null });
    expect(created.key).toMatch(/^mik_[A-Za-z0-9_-]{43}$/);
    const list = (await (await admin('/v1/admin/keys')).json()) as { keys: Record<string, unknown>[] };
    const listed = list.keys.find((k) => k.id === created.id)!;
    expect(listed).toMatchObject({ name: 'gallery', libraries: ['photos'] });
    expect(JSON.stringify(list)).not.toContain(created.key);
    const dump = JSON.stringify(await svc.core.redis.hgetall(`{${svc.config.redis.prefix}}:apikeys:digest`));
    expect(dump).toContain('gallery');
    expect(dump).not.toContain(created.key);
    expect(dump).not.toContain(created.key.slice(4));
  });

  it('refuses bad key requests with a message naming what to change, and API keys (not admin keys) cannot make keys', async () => {
    const bad = async (body: unknown, re: RegExp) => {
      const res = await admin('/v1/admin/keys', { method: 'POST', body: JSON.stringify(body) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toMatch(re);
    };
    await bad({ name: 'x', libraries: ['nope'], permissions: ['read'] }, /do not exist: "nope"/);
    await bad(
      { name: 'x', libraries: ['photos'], permissions: ['write'] },
      /permissions to be a non-empty list of read, upload, delete, reprocess/,
    );
    await bad({ name: 'x', libraries: ['*', 'photos'], permissions: ['read'] }, /\["\*"\] alone/);
    await bad({ name: 'x', libraries: ['photos'], permissions: ['read'], expiresAt: '2001-01-01T00:00:00Z' }, /future ISO 8601/);
    expect((await as(TEST_KEY, '/v1/admin/keys')).status).toBe(401);
  });

  it('a key of one library with read only: 403 problem+json on other libraries and for other permissions', async () => {
    const { key } = await newKey({ name: 'reader', libraries: ['photos'], permissions: ['read'] });
    expect((await as(key, `/v1/resources/${ids.photos}`)).status).toBe(200);
    expect((await as(key, '/v1/libraries/photos')).status).toBe(200);
    const outside = await as(key, `/v1/resources/${ids['private-docs']}`);
    expect(outside.status).toBe(403);
    expect(outside.headers.get('content-type')).toBe('application/problem+json');
    expect(await outside.json()).toMatchObject({ code: 'forbidden', detail: expect.stringMatching(/opens the libraries photos only/) });
    expect((await as(key, '/v1/libraries/private-docs')).status).toBe(403);
    expect((await as(key, '/v1/resources?library=private-docs')).status).toBe(403);
    const upload = await as(key, '/v1/libraries/photos/files', { method: 'POST', body: form({ file: { name: 'x.txt', data: 'x' } }) });
    expect(upload.status).toBe(403);
    expect(((await upload.json()) as { detail: string }).detail).toMatch(/lacks the "upload" permission/);
    expect((await as(key, `/v1/resources/${ids.photos}`, { method: 'DELETE' })).status).toBe(403);
    expect(
      (await as(key, '/v1/mappings', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"fields":{}}' })).status,
    ).toBe(403);
    expect(
      (await as(key, '/v1/libraries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"mine"}' })).status,
    ).toBe(403);
    // Private images: the key opens its own library's, not another's.
    expect((await as(key, `/image/0x0/${ids.photos}.jpg`)).status).toBe(200);
    expect((await as(key, `/image/0x0/${ids['private-docs']}.jpg`)).status).toBe(401);
  });

  it("listings (libraries, resources, checksums) show only the key's libraries", async () => {
    const { key } = await newKey({ name: 'lister', libraries: ['photos', 'default'], permissions: ['read'] });
    const libs = (await (await as(key, '/v1/libraries')).json()) as { libraries: { name: string }[] };
    expect(libs.libraries.map((l) => l.name).sort()).toEqual(['default', 'photos']);
    const page = (await (await as(key, '/v1/resources?limit=1000')).json()) as { resources: { id: number }[] };
    expect(page.resources.map((r) => r.id)).toContain(ids.photos);
    expect(page.resources.map((r) => r.id)).not.toContain(ids['private-docs']);
    const full = (await (await svc.fetch('/v1/resources?limit=1000')).json()) as { resources: { id: number; checksum: string }[] };
    const docSha = (await (await svc.fetch(`/v1/resources/${ids['private-docs']}`)).json()) as { checksum: string };
    expect(full.resources.map((r) => r.id)).toContain(ids['private-docs']);
    const pre = (await (
      await as(key, '/v1/checksums', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ checksums: [docSha.checksum] }),
      })
    ).json()) as { missing: string[] };
    expect(pre.missing).toEqual([docSha.checksum]);
    expect((await as(key, `/v1/checksums/${docSha.checksum}`)).status).toBe(404);
  });

  it('a key with upload on its library uploads there, on this store; a key of ["*"] reaches every library', async () => {
    const { key } = await newKey({ name: 'uploader', libraries: ['photos'], permissions: ['upload', 'read'] });
    const res = await as(key, '/v1/libraries/photos/files?wait=30', {
      method: 'POST',
      body: form({ file: { name: 'u.jpg', data: await makeJpeg(33, 21), type: 'image/jpeg' } }),
    });
    expect(res.status).toBe(204);
    const id = Number(res.headers.get('x-resource-id'));
    expect((await svc.core.catalog.getResource(id))?.library).toBe((await svc.core.catalog.getLibrary('photos')).id);
    expect(
      (await as(key, '/v1/libraries/private-docs/files', { method: 'POST', body: form({ file: { name: 'u.txt', data: 'x' } }) })).status,
    ).toBe(403);
    const all = await newKey({ name: 'all', libraries: ['*'], permissions: ['read'] });
    expect((await as(all.key, `/v1/resources/${ids['private-docs']}`)).status).toBe(200);
  });

  it('DELETE /v1/admin/keys/{id} revokes: refused on both replicas within 2 s; expired keys are refused; API_KEYS stay full-access', async () => {
    const { id, key } = await newKey({ name: 'temp', libraries: ['photos'], permissions: ['read'] });
    expect((await as(key, `/v1/resources/${ids.photos}`)).status).toBe(200);
    expect((await as(key, `/v1/resources/${ids.photos}`, {}, replica.url)).status).toBe(200);
    expect((await admin(`/v1/admin/keys/${id}`, { method: 'DELETE' })).status).toBe(204);
    await new Promise((r) => setTimeout(r, 2000));
    expect((await as(key, `/v1/resources/${ids.photos}`)).status).toBe(401);
    expect((await as(key, `/v1/resources/${ids.photos}`, {}, replica.url)).status).toBe(401);
    expect((await admin(`/v1/admin/keys/${id}`, { method: 'DELETE' })).status).toBe(404);

    const soon = await newKey({
      name: 'short-lived',
      libraries: ['photos'],
      permissions: ['read'],
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    });
    expect((await as(soon.key, `/v1/resources/${ids.photos}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1600));
    expect((await as(soon.key, `/v1/resources/${ids.photos}`)).status).toBe(401);

    expect((await svc.fetch(`/v1/resources/${ids['private-docs']}`)).status).toBe(200);
    expect((await svc.fetch('/v1/libraries')).status).toBe(200);
  });
});
