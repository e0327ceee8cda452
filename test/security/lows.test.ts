// The lows of issue 21: the admin pages refuse cross-site posts and cannot be framed;
// anonymous on-demand renders only in the preset's own format; Atom <category> tags go
// through the upload tag limits; bidi controls are stripped from file names; webhook URLs
// naming IPv4-in-IPv6 and site-local addresses are refused; a compat upload the client
// abandons is not a 500.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeJpeg } from '../harness/images.js';
import { form, startService, storageKinds, TEST_KEY, type StorageKind, type TestService } from '../harness/service.js';
import { basic, CREDENTIALS } from '../harness/credentials.js';

const ADMIN_KEY = CREDENTIALS.adminKey;
const CONN_PASS = 'conn-password-0123456789';
const COPERNICA = 'copernica-token-0123456789abcdef';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each<StorageKind>(storageKinds())('issue 21 lows (%s store)', (storage) => {
  let svc: TestService;
  let publicImage: number;
  beforeAll(async () => {
    svc = await startService(storage, {
      env: {
        ADMIN_KEYS: ADMIN_KEY,
        CONNECTIONS_USERS: `conn:${CONN_PASS}`,
        COPERNICA_TOKENS: COPERNICA,
        WEBHOOK_SECRET: 'w'.repeat(32),
        WAIT_MAX_SECONDS: '20',
      },
    });
    const res = await svc.fetch('/v1/libraries/default/files?wait=30', {
      method: 'POST',
      body: form({ visibility: 'public', file: { name: 'pub.jpg', data: await makeJpeg(300, 200), type: 'image/jpeg' } }),
    });
    expect(res.status).toBe(204);
    publicImage = Number(res.headers.get('x-resource-id'));
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('admin pages: a cross-site Origin or a form body is refused even with the admin credential; no page may frame them', async () => {
    const post = (headers: Record<string, string>, body?: string) =>
      fetch(`${svc.url}/admin/lanes/bulk/pause`, { method: 'POST', headers: { authorization: basic('ops', ADMIN_KEY), ...headers }, body });
    const cross = await post({ origin: 'https://evil.example' });
    expect(cross.status).toBe(403);
    expect(((await cross.json()) as { detail: string }).detail).toMatch(/own pages only/);
    const formPost = await post({ 'content-type': 'application/x-www-form-urlencoded' }, 'a=1');
    expect(formPost.status).toBe(415);
    const textPost = await post({ 'content-type': 'text/plain' }, 'a=1');
    expect(textPost.status).toBe(415);
    // Same origin (what the board's own scripts send), or no Origin at all (scripts, curl): allowed.
    const same = await post({ origin: svc.url });
    expect(same.status).toBe(200);
    await (
      await fetch(`${svc.url}/admin/lanes/bulk/resume`, { method: 'POST', headers: { authorization: basic('ops', ADMIN_KEY) } })
    ).body?.cancel();
    const page = await fetch(`${svc.url}/admin/lanes`, { headers: { authorization: basic('ops', ADMIN_KEY) } });
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const board = await fetch(`${svc.url}/admin/queues`, { headers: { authorization: basic('ops', ADMIN_KEY) } });
    expect(board.status).toBe(200);
    expect(board.headers.get('x-frame-options')).toBe('DENY');
  });

  it("anonymous on-demand renders come only in the preset's own format; a key may ask for another", async () => {
    const webp = await fetch(`${svc.url}/image/200x200/${publicImage}.webp`);
    expect(webp.status).toBe(200);
    const png = await fetch(`${svc.url}/image/200x200/${publicImage}.png`);
    expect(png.status).toBe(400);
    expect(((await png.json()) as { detail: string }).detail).toMatch(/200x200\.webp/);
    const keyed = await fetch(`${svc.url}/image/200x200/${publicImage}.png`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
    expect(keyed.status).toBe(200);
    expect(keyed.headers.get('content-type')).toBe('image/png');
  });

  it('Atom <category> tags meet the upload tag limits (length and count)', async () => {
    const entry = (cats: string[]) =>
      `<?xml version="1.0"?><entry xmlns="http://www.w3.org/2005/Atom" xmlns:td="urn:ibm.com/td">${cats.map((c) => `<category term="${c}"/>`).join('')}<td:label>e-${Math.random()}.txt</td:label></entry>`;
    const post = (body: string) =>
      fetch(`${svc.url}/files/basic/api/myuserlibrary/feed`, {
        method: 'POST',
        headers: { authorization: basic('conn', CONN_PASS), 'content-type': 'application/atom+xml' },
        body,
      });
    const long = await post(entry(['x'.repeat(5000)]));
    expect(long.status).toBe(400);
    expect(await long.text()).toMatch(/Expected each tag to be at most \d+ characters/);
    const many = await post(entry(Array.from({ length: 1000 }, (_, i) => `t${i}`)));
    expect(many.status).toBe(400);
    expect(await many.text()).toMatch(/Expected at most \d+ tags/);
    expect((await post(entry(['fine']))).status).toBe(201);
  });

  it('bidi controls (U+202A–U+202E, U+2066–U+2069) are stripped from file names', async () => {
    const res = await svc.fetch('/v1/libraries/default/files', {
      method: 'POST',
      body: form({ file: { name: 'invoice\u202Egpj.exe\u2066\u2069', data: `bidi ${Math.random()}` } }),
    });
    expect(res.status).toBe(202);
    const { resources } = (await res.json()) as { resources: { fileName: string }[] };
    expect(resources[0]!.fileName).toBe('invoicegpj.exe');
  });

  it('webhook URLs naming IPv4-in-IPv6 or site-local addresses are refused (400)', async () => {
    for (const host of ['[::ffff:a00:1]', '[64:ff9b::a00:1]', '[64:ff9b:1::1]', '[2002:a00:1::1]', '[::a00:1]', '[fec0::1]']) {
      const res = await svc.fetch('/v1/libraries/default/webhook', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ url: `http://${host}/hook` }),
      });
      expect(res.status, host).toBe(400);
    }
  });

  it('a compat upload the client abandons mid-body is not answered (or counted) as a 500', async () => {
    const port = Number(new URL(svc.url).port);
    const abandon = async (head: string) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      await new Promise((r) => s.on('connect', r));
      s.write(head);
      s.write(Buffer.alloc(64 * 1024, 1));
      await sleep(200);
      s.destroy();
      await sleep(300);
    };
    const b = '----abandon';
    const part = `--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`;
    await abandon(
      `POST /files/basic/api/myuserlibrary/feed HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic('conn', CONN_PASS)}\r\nSlug: abandoned-${Math.random()}.bin\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n`,
    );
    await abandon(
      `POST /v3/medialibrary/default/files?access_token=${COPERNICA} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${b}\r\nContent-Length: 10000000\r\n\r\n${part}`,
    );
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    const served = metrics
      .split('\n')
      .filter((l) => l.startsWith('media_ingest_http_request_duration_seconds_count') && /route="\/(files|v3)\//.test(l));
    expect(served.length).toBeGreaterThan(0);
    expect(served.filter((l) => /status="5\d\d"/.test(l))).toEqual([]);
  });
});
