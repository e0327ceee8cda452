// Attacks that already held when issue 21 was filed, kept held: XXE and entity bombs in
// an Atom entry, request smuggling (Content-Length with Transfer-Encoding), header
// injection through a file name or Slug, path traversal through /image paths. (File-name
// traversal: test/faults/hostile-files.test.ts; signed-URL tampering:
// test/faults/auth.test.ts; SSRF: test/integration/webhooks.test.ts.)
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { form, startService, TEST_KEY, type TestService } from '../harness/service.js';
import { basic } from '../harness/credentials.js';

const CONN_PASS = 'conn-password-0123456789';

/** Writes `raw` on a fresh connection and resolves with everything the server sent before closing. */
function rawExchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d.toString()));
    s.on('error', () => undefined);
    s.on('close', () => resolve(out));
    s.on('connect', () => s.write(raw));
    setTimeout(() => s.destroy(), 3000);
  });
}

describe('attacks that held before issue 21 still hold', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', { worker: false, env: { CONNECTIONS_USERS: `conn:${CONN_PASS}` } });
  });
  afterAll(async () => {
    await svc?.close();
  });
  const atom = (body: string) =>
    fetch(`${svc.url}/files/basic/api/myuserlibrary/feed`, {
      method: 'POST',
      headers: { authorization: basic('conn', CONN_PASS), 'content-type': 'application/atom+xml' },
      body,
    });

  it('XXE: an external entity in an Atom entry is not resolved (no file content in the answer or the record)', async () => {
    const res = await atom(
      `<?xml version="1.0"?><!DOCTYPE entry [<!ENTITY x SYSTEM "file:///etc/passwd">]><entry xmlns="http://www.w3.org/2005/Atom" xmlns:td="urn:ibm.com/td"><td:label>xxe-&x;.txt</td:label></entry>`,
    );
    const text = await res.text();
    expect(text).not.toMatch(/root:/);
    if (res.status === 201) {
      const id = Number(res.headers.get('x-resource-id'));
      expect(JSON.stringify(await svc.core.catalog.getResource(id))).not.toMatch(/root:/);
    } else {
      expect(res.status).toBe(400);
    }
  });

  it('entity bomb ("billion laughs") in an Atom entry: a 4xx at once, the API alive', async () => {
    const lol = ['<!ENTITY l0 "lol">', ...Array.from({ length: 9 }, (_, i) => `<!ENTITY l${i + 1} "${`&l${i};`.repeat(10)}">`)].join('');
    const res = await atom(
      `<?xml version="1.0"?><!DOCTYPE entry [${lol}]><entry xmlns="http://www.w3.org/2005/Atom" xmlns:td="urn:ibm.com/td"><td:label>&l9;</td:label></entry>`,
    );
    const text = await res.text();
    expect(res.status === 400 || res.status === 201).toBe(true);
    expect(text.length).toBeLessThan(64 * 1024);
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
  });

  it('request smuggling: Content-Length together with Transfer-Encoding is refused (400), the hidden request never runs', async () => {
    const port = Number(new URL(svc.url).port);
    const hidden = `DELETE /v1/resources/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEY}\r\n\r\n`;
    const out = await rawExchange(
      port,
      `POST /v1/checksums HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${hidden}`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(out).not.toMatch(/HTTP\/1\.1 (204|404)/);
  });

  it('header injection: CR/LF in a file name never reaches a response header', async () => {
    const res = await svc.fetch('/v1/libraries/default/files', {
      method: 'POST',
      body: form({ file: { name: 'a\r\nSet-Cookie: pwned=1\r\n.html', data: '<html></html>', type: 'text/html' } }),
    });
    expect(res.status).toBe(202);
    const { resources } = (await res.json()) as { resources: { id: number; fileName: string }[] };
    expect(resources[0]!.fileName).not.toMatch(/[\r\n]/);
    const original = await svc.fetch(`/image/0x0/${resources[0]!.id}.html`);
    expect(original.headers.get('set-cookie')).toBeNull();
    expect(original.headers.get('content-disposition')).toMatch(/^attachment;/);
  });

  it('path traversal through /image paths: 404, never a file outside the store', async () => {
    for (const p of [
      '/image/0x0/..%2F..%2F..%2Fetc%2Fpasswd',
      '/image/0x0/../../etc/passwd',
      '/image/..%2F..%2Fetc/passwd.jpg',
      '/image/0x0/1.jpg%00.txt',
    ]) {
      const res = await fetch(`${svc.url}${p}`);
      const text = await res.text();
      expect(res.status, p).toBeGreaterThanOrEqual(400);
      expect(res.status, p).toBeLessThan(500);
      expect(text).not.toMatch(/root:/);
    }
  });
});
