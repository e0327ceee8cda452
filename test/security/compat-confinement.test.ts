// Attack: the compatibility faces were not confined. A ResourceSpace user overwrote a
// Connections user's private file with an HTML page (upload_multipart, revert and
// get_resource_data took any ref); a Flotiq token read any private resource through
// `POST /api/v1/content/_media {"id":"_media-N"}`; a Copernica token wrote into any
// library. Now each credential opens its libraries only (`@lib|lib…`, else `default`),
// and anything outside answers as that face answers "not found" — word for word the
// answer for a thing that does not exist. Also: links from PUBLIC_URL, not the Host header.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaObjectStore } from '../../shared/catalog/media-objects.js';
import { makeJpeg } from '../harness/images.js';
import { form, startService, storageKinds, type StorageKind, type TestService } from '../harness/service.js';
import { basic, sha256Hex as sha } from '../harness/credentials.js';

const RS_KEY = 'rs-private-key-0123456789abcdef';
const COPERNICA = 'copernica-token-0123456789abcdef';
const FLOTIQ = 'flotiq-key-0123456789abcdef';
const CAROL = 'carol-password-0123456789';
const DAVE = 'dave-password-0123456789';

describe.each<StorageKind>(storageKinds())('compatibility credentials stay in their libraries (%s store)', (storage) => {
  let svc: TestService;
  let carolFile: number;
  let carolBytes: Buffer;
  let secretFile: number;
  beforeAll(async () => {
    svc = await startService(storage, {
      env: {
        RESOURCESPACE_USERS: `rs:${RS_KEY}`,
        COPERNICA_TOKENS: COPERNICA,
        FLOTIQ_API_KEYS: FLOTIQ,
        CONNECTIONS_USERS: `carol:${CAROL},dave:${DAVE}`,
        WAIT_MAX_SECONDS: '30',
      },
    });
    carolBytes = await makeJpeg(52, 40);
    const res = await fetch(`${svc.url}/files/basic/api/myuserlibrary/feed?visibility=private`, {
      method: 'POST',
      headers: { authorization: basic('carol', CAROL), slug: 'private.jpg', 'content-type': 'image/jpeg' },
      body: new Uint8Array(carolBytes),
    });
    expect(res.status).toBe(201);
    carolFile = Number(res.headers.get('x-resource-id'));
    expect(
      (await svc.fetch('/v1/libraries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"secret"}' }))
        .status,
    ).toBe(201);
    const up = await svc.fetch('/v1/libraries/secret/files?wait=30', {
      method: 'POST',
      body: form({ visibility: 'private', file: { name: 'secret.jpg', data: await makeJpeg(61, 43), type: 'image/jpeg' } }),
    });
    expect(up.status).toBe(204);
    secretFile = Number(up.headers.get('x-resource-id'));
  });
  afterAll(async () => {
    await svc?.close();
  });

  /** ResourceSpace's signed call as its PHP client posts it: query, sign, user, then the file. */
  async function rs(params: Record<string, string>, file?: { name: string; data: string | Uint8Array; type?: string }) {
    const query = new URLSearchParams({ user: 'rs', ...params }).toString();
    const fields: Record<string, string | { name: string; data: string | Uint8Array; type?: string }> = {
      query,
      sign: sha(RS_KEY + query),
      user: 'rs',
    };
    if (file) fields.file = file;
    const res = await fetch(`${svc.url}/api/`, { method: 'POST', body: form(fields) });
    return { status: res.status, body: (await res.json()) as { status: string; data: { message: string } } };
  }

  it("ResourceSpace: upload_multipart over a Connections user's private file answers as for a missing resource, and the file is unchanged", async () => {
    const attack = await rs(
      { function: 'upload_multipart', ref: String(carolFile), no_exif: '1', revert: '0' },
      { name: 'x.html', data: '<html><script>alert(1)</script></html>', type: 'text/html' },
    );
    const missing = await rs(
      { function: 'upload_multipart', ref: '99999999', no_exif: '1', revert: '0' },
      { name: 'x.html', data: '<html></html>', type: 'text/html' },
    );
    expect(attack.status).toBe(404);
    expect(attack.body.data.message).toBe(missing.body.data.message.replace('99999999', String(carolFile)));
    const rec = await svc.core.catalog.getResource(carolFile);
    expect(rec).toMatchObject({ checksum: sha(carolBytes), fileVersion: 1 });
  });

  it('ResourceSpace: revert and get_resource_data of another library\'s resource answer "not found" too; its own still work', async () => {
    expect((await rs({ function: 'upload_multipart', ref: String(carolFile), revert: '1' })).status).toBe(404);
    const read = await rs({ function: 'get_resource_data', resource: String(secretFile) });
    expect(read.status).toBe(404);
    expect(read.body.data.message).toBe(`No resource "${secretFile}" exists.`);
    const created = await fetch(
      `${svc.url}/api/?${(() => {
        const q = new URLSearchParams({ user: 'rs', function: 'create_resource' }).toString();
        return `${q}&sign=${sha(RS_KEY + q)}`;
      })()}`,
    );
    expect(created.status).toBe(200);
    const ref = (await created.json()) as number;
    expect((await svc.core.catalog.getResource(ref))?.library).toBe((await svc.core.catalog.getLibrary('default')).id);
    expect((await rs({ function: 'get_resource_data', resource: String(ref) })).status).toBe(200);
  });

  it('Flotiq: a private resource of another library is not readable through POST /api/v1/content/_media, GET by id, or the list', async () => {
    const flotiq = (p: string, init: RequestInit = {}) =>
      fetch(`${svc.url}${p}`, {
        ...init,
        headers: { 'x-auth-token': FLOTIQ, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
      });
    const post = await flotiq('/api/v1/content/_media', { method: 'POST', body: JSON.stringify({ id: `_media-${secretFile}` }) });
    const none = await flotiq('/api/v1/content/_media', { method: 'POST', body: JSON.stringify({ id: '_media-99999999' }) });
    expect(post.status).toBe(404);
    expect(((await post.json()) as { message: string }).message).toBe(
      ((await none.json()) as { message: string }).message.replace('99999999', String(secretFile)),
    );
    // Even registered as a _media object (by an operator, or before the confinement), it stays out of reach.
    await new MediaObjectStore(svc.core.redis, svc.config.redis.prefix).add(secretFile);
    expect((await flotiq(`/api/v1/content/_media/_media-${secretFile}`)).status).toBe(404);
    const list = (await (await flotiq('/api/v1/content/_media?limit=1000')).json()) as { total_count: number; data: { id: string }[] };
    expect(list.data.map((d) => d.id)).not.toContain(`_media-${secretFile}`);
    expect(list.total_count).toBe(list.data.length);
  });

  it("Copernica: a token writes into another face's user library as into a missing library (404), nothing stored", async () => {
    const before = await svc.core.catalog.countResources();
    const up = (lib: string) =>
      fetch(`${svc.url}/v3/medialibrary/${lib}/files?access_token=${COPERNICA}`, {
        method: 'POST',
        body: form({ file: { name: 'x.txt', data: 'into another library' } }),
      });
    const attack = await up('connections-carol');
    const missing = await up('no-such-library');
    expect(attack.status).toBe(404);
    expect(((await attack.json()) as { error: { message: string } }).error.message).toBe(
      ((await missing.json()) as { error: { message: string } }).error.message.replace('no-such-library', 'connections-carol'),
    );
    expect(await svc.core.catalog.countResources()).toBe(before);
    expect((await up('default')).status).toBe(201);
  });

  it('Connections: a user reads only its own library; links come from PUBLIC_URL, never from the Host header', async () => {
    const entry = `/files/basic/api/myuserlibrary/document/${carolFile}/entry`;
    expect((await fetch(`${svc.url}${entry}`, { headers: { authorization: basic('dave', DAVE) } })).status).toBe(404);
    const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`${svc.url}${entry}`, { headers: { host: 'evil.example', authorization: basic('carol', CAROL) } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(body.status).toBe(200);
    expect(body.text).not.toContain('evil.example');
    expect(body.text).toContain(`${svc.url}/files/basic/api/myuserlibrary/document/${carolFile}/entry`);
  });
});
