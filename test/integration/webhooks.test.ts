// Completion webhooks: a signed POST (Standard Webhooks form) to the upload's URL or its
// library's when a resource is ready or failed, retried with backoff through a BullMQ
// job. The receiver is a local HTTP server on 127.0.0.1.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from '../../shared/webhooks/signature.js';
import { form, startService, type TestService } from '../harness/service.js';

const SECRET = 'whsec-test-0123456789abcdef0123456789';

interface Received {
  at: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  path: string;
}

/** A receiver that records every POST and answers with the next status of its script (then 200). */
async function startReceiver() {
  const received: Received[] = [];
  const script: number[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ at: Date.now(), headers: req.headers, body, path: req.url ?? '' });
      res.writeHead(script.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    script,
    async next(count: number, timeoutMs = 15_000): Promise<Received[]> {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      return received;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function verified(r: Received): boolean {
  return verifyWebhook(SECRET, { id: String(r.headers['webhook-id']), timestamp: String(r.headers['webhook-timestamp']), signature: String(r.headers['webhook-signature']) }, r.body);
}

describe('signatures', () => {
  it('verify with the secret, the id and a fresh timestamp, and with nothing else', () => {
    const now = Date.now();
    const ts = Math.floor(now / 1000);
    const sig = signWebhook(SECRET, 'msg_1', ts, '{"a":1}');
    expect(sig).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    const h = { id: 'msg_1', timestamp: String(ts), signature: sig };
    expect(verifyWebhook(SECRET, h, '{"a":1}', 300, now)).toBe(true);
    expect(verifyWebhook(SECRET, h, '{"a":2}', 300, now)).toBe(false);
    expect(verifyWebhook(`${SECRET}x`, h, '{"a":1}', 300, now)).toBe(false);
    expect(verifyWebhook(SECRET, { ...h, id: 'msg_2' }, '{"a":1}', 300, now)).toBe(false);
    // Replayed ten minutes later: refused.
    expect(verifyWebhook(SECRET, h, '{"a":1}', 300, now + 600_000)).toBe(false);
  });
});

describe('completion webhooks', () => {
  let svc: TestService;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    receiver = await startReceiver();
    svc = await startService('fs', { env: { WEBHOOK_SECRET: SECRET, WEBHOOK_ATTEMPTS: '3', RATE_LIMIT_PER_MINUTE: '0' } });
  });
  afterAll(async () => {
    await svc?.close();
    await receiver?.close();
  });

  it('POSTs resource.ready, signed, to the upload\'s URL, and retries with backoff after a 500', async () => {
    receiver.received.length = 0;
    receiver.script.push(500);
    const res = await svc.fetch(`/v1/libraries/default/files?webhook=${encodeURIComponent(`${receiver.url}/hook/a`)}`, {
      method: 'POST',
      headers: { 'x-request-id': 'wh-ready-1' },
      body: form({ file: { name: 'a.txt', data: `ready ${randomBytes(6).toString('hex')}` } }),
    });
    expect(res.status).toBe(202);
    const id = Number(res.headers.get('x-resource-id'));
    const [first, second] = await receiver.next(2);
    expect(first, 'first delivery').toBeDefined();
    expect(second, 'retry after the 500').toBeDefined();
    expect(first!.path).toBe('/hook/a');
    // The same message, delivered again at least the backoff's 1 s later, signed anew.
    expect(second!.body).toBe(first!.body);
    expect(second!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(900);
    expect(verified(first!) && verified(second!)).toBe(true);
    expect(second!.headers['content-type']).toBe('application/json');
    const event = JSON.parse(second!.body) as { type: string; data: { resourceId: number; status: string; requestId: string; resource: { checksum: string; storageKey?: string } } };
    expect(event.type).toBe('resource.ready');
    expect(event.data).toMatchObject({ resourceId: id, status: 'ready', requestId: 'wh-ready-1' });
    expect(event.data.resource.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(event.data.resource).not.toHaveProperty('storageKey');
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received).toHaveLength(2);
  });

  it('uses the library\'s webhook when the upload names none, and reports a failure with its reason', async () => {
    const lib = `wh-${randomBytes(4).toString('hex')}`;
    expect((await svc.fetch('/v1/libraries', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: lib }) })).status).toBe(201);
    const put = await svc.fetch(`/v1/libraries/${lib}/webhook`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: `${receiver.url}/lib` }) });
    expect(put.status).toBe(200);
    expect(((await (await svc.fetch(`/v1/libraries/${lib}/webhook`)).json()) as { url: string }).url).toBe(`${receiver.url}/lib`);

    receiver.received.length = 0;
    // The same bytes twice: the second is a rejected duplicate, its record removed.
    const data = `dup ${randomBytes(6).toString('hex')}`;
    const up = () => svc.fetch(`/v1/libraries/${lib}/files?wait=20`, { method: 'POST', body: form({ file: { name: 'd.txt', data } }) });
    expect((await up()).status).toBe(204);
    expect((await up()).status).toBe(400);
    const got = await receiver.next(2);
    const events = got.map((r) => JSON.parse(r.body) as { type: string; data: { error: string | null } });
    expect(got.every((r) => r.path === '/lib' && verified(r))).toBe(true);
    expect(events.map((e) => e.type).sort()).toEqual(['resource.failed', 'resource.ready']);
    expect(events.find((e) => e.type === 'resource.failed')!.data.error).toMatch(/^Duplicate file upload, file matches resources: \d+/);

    expect((await svc.fetch(`/v1/libraries/${lib}/webhook`, { method: 'DELETE' })).status).toBe(204);
    expect((await svc.fetch(`/v1/libraries/${lib}/webhook`)).status).toBe(404);
  });

  it('refuses a webhook URL that is not http(s) or carries credentials, before reading the body', async () => {
    for (const [url, msg] of [
      ['ftp://example.com/x', /start with http:\/\/ or https:\/\/ but it starts with ftp:/],
      ['http://user:pw@example.com/', /must not carry a user name or password/],
      ['not a url', /absolute http:\/\/ or https:\/\/ URL/],
    ] as const) {
      const res = await svc.fetch('/v1/libraries/default/files', { method: 'POST', headers: { 'webhook-url': url }, body: form({ file: { name: 'x.txt', data: 'x' } }) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toMatch(msg);
    }
  });
});

describe('without WEBHOOK_SECRET', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', { worker: false });
  });
  afterAll(async () => svc?.close());

  it('refuses uploads that ask for a webhook, saying why', async () => {
    const res = await svc.fetch('/v1/libraries/default/files?webhook=http://127.0.0.1:1/x', { method: 'POST', body: form({ file: { name: 'x.txt', data: 'x' } }) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/WEBHOOK_SECRET is not set/);
  });
});
