// Attack: unbounded JSON bodies. `POST /v1/checksums`, `POST /v1/libraries`, `PUT …/webhook`,
// `POST …/direct-uploads` and the admin routes read the whole body: a 400 MB JSON took the
// API from 235 MiB to 2.6 GiB. Now every body under /v1 is capped (JSON_BODY_MAX_BYTES,
// with per-route overrides), counted while it arrives — a false or missing Content-Length
// changes nothing — and refused with 413 naming the cap; and only after the key check.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, TEST_KEY, type TestService } from '../harness/service.js';
import { CREDENTIALS } from '../harness/credentials.js';

const ADMIN_KEY = CREDENTIALS.adminKey;
const CAP = 16 * 1024;

/** A JSON body streamed in chunks without Content-Length (chunked), as a lying client would. */
function chunked(url: string, method: string, key: string, total: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', (err) => (req.writableEnded ? reject(err) : undefined));
    void (async () => {
      req.write('{"name":"');
      for (let sent = 0; sent < total && !req.destroyed; sent += 8192) {
        if (!req.write('a'.repeat(8192))) await new Promise((r) => req.once('drain', r).once('close', r));
      }
      if (!req.destroyed) req.end('"}');
    })();
  });
}

describe('every JSON body is capped', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', { worker: false, env: { ADMIN_KEYS: ADMIN_KEY, JSON_BODY_MAX_BYTES: String(CAP) } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  const ROUTES: [string, string, string][] = [
    ['POST', '/v1/libraries', TEST_KEY],
    ['PUT', '/v1/libraries/default/webhook', TEST_KEY],
    ['POST', '/v1/libraries/default/direct-uploads', TEST_KEY],
    ['POST', '/v1/admin/reindex', ADMIN_KEY],
    ['POST', '/v1/admin/sweep', ADMIN_KEY],
    ['POST', '/v1/admin/keys', ADMIN_KEY],
  ];

  it.each(ROUTES)('%s %s: 413 with the cap in the message, for a declared size and for a chunked body alike', async (method, path, key) => {
    const declared = await fetch(`${svc.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'a'.repeat(CAP) }),
    });
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { detail: string }).detail).toMatch(new RegExp(`exceeds its limit of 16 KiB \\(${CAP} bytes\\)`));
    const streamed = await chunked(`${svc.url}${path}`, method, key, 50 * 1024 * 1024);
    expect(streamed.status).toBe(413);
    expect(streamed.body).toContain(`(${CAP} bytes)`);
  });

  it('POST /v1/checksums has its own cap (1 MiB: 10,000 checksums), above the default', async () => {
    const shas = Array.from({ length: 2000 }, (_, i) => i.toString(16).padStart(64, '0'));
    const ok = await svc.fetch('/v1/checksums', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ checksums: shas }),
    });
    expect(ok.status).toBe(200);
    const big = await chunked(`${svc.url}/v1/checksums`, 'POST', TEST_KEY, 2 * 1024 * 1024);
    expect(big.status).toBe(413);
    expect(big.body).toContain('(1048576 bytes)');
  });

  it('reads nothing before the key is checked: a 400 MB body without a key is refused at once with 401', async () => {
    const res = await chunked(`${svc.url}/v1/checksums`, 'POST', 'wrong-key-0123456789abcdef', 400 * 1024 * 1024);
    expect(res.status).toBe(401);
  });

  it('small bodies still work: a library is made', async () => {
    const res = await svc.fetch('/v1/libraries', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"small"}',
    });
    expect(res.status).toBe(201);
  });
});
