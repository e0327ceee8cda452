// Completion webhooks: a signed POST (Standard Webhooks form) to the upload's URL or its
// library's when a resource is ready or failed, retried with backoff through a BullMQ
// job. The receiver is a local HTTP server on 127.0.0.1.
import dns from 'node:dns/promises';
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnrecoverableError, type Job } from 'bullmq';
import type { WebhookPayload } from '../../shared/jobs/webhook.js';
import { createLogger } from '../../shared/logger.js';
import { isPrivateAddress } from '../../shared/webhooks/address-policy.js';
import { signWebhook, verifyWebhook } from '../../shared/webhooks/signature.js';
import { webhookProcessor } from '../../worker/jobs/webhook.js';
import { form, startService, type TestService } from '../harness/service.js';
import { sleep, until } from '../harness/until.js';

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
      // Short of `count` the caller's assertions say what is missing.
      return until(`${count} webhook deliveries`, () => received.length >= count && received, timeoutMs, 50).catch(() => received);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function verified(r: Received): boolean {
  return verifyWebhook(
    SECRET,
    {
      id: String(r.headers['webhook-id']),
      timestamp: String(r.headers['webhook-timestamp']),
      signature: String(r.headers['webhook-signature']),
    },
    r.body,
  );
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
    // The receiver listens on 127.0.0.1, which only WEBHOOK_ALLOW_PRIVATE lets webhooks reach.
    svc = await startService('fs', {
      env: { WEBHOOK_SECRET: SECRET, WEBHOOK_ATTEMPTS: '3', RATE_LIMIT_PER_MINUTE: '0', WEBHOOK_ALLOW_PRIVATE: 'true' },
    });
  });
  afterAll(async () => {
    await svc?.close();
    await receiver?.close();
  });

  it("POSTs resource.ready, signed, to the upload's URL, and retries with backoff after a 500", async () => {
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
    const event = JSON.parse(second!.body) as {
      type: string;
      data: { resourceId: number; status: string; requestId: string; resource: { checksum: string; storageKey?: string } };
    };
    expect(event.type).toBe('resource.ready');
    expect(event.data).toMatchObject({ resourceId: id, status: 'ready', requestId: 'wh-ready-1' });
    expect(event.data.resource.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(event.data.resource).not.toHaveProperty('storageKey');
    await sleep(300);
    expect(receiver.received).toHaveLength(2);
  });

  it("uses the library's webhook when the upload names none, and reports a failure with its reason", async () => {
    const lib = `wh-${randomBytes(4).toString('hex')}`;
    expect(
      (
        await svc.fetch('/v1/libraries', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: lib }),
        })
      ).status,
    ).toBe(201);
    const put = await svc.fetch(`/v1/libraries/${lib}/webhook`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${receiver.url}/lib` }),
    });
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
      const res = await svc.fetch('/v1/libraries/default/files', {
        method: 'POST',
        headers: { 'webhook-url': url },
        body: form({ file: { name: 'x.txt', data: 'x' } }),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toMatch(msg);
    }
  });
});

describe('webhooks go to public addresses unless WEBHOOK_ALLOW_PRIVATE (SSRF)', () => {
  let svc: TestService;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    receiver = await startReceiver();
    svc = await startService('fs', { worker: false, env: { WEBHOOK_SECRET: SECRET } });
  });
  afterAll(async () => {
    await svc?.close();
    await receiver?.close();
  });

  it('classifies addresses: loopback, private, link-local, mapped IPv6 refused; public ones not', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.20.0.5',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '[::1]',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:a9fe:a9fe',
      '224.0.0.1',
      '::ffff:5db8:d822',
      '::5db8:d822',
      '64:ff9b::a00:1',
      '64:ff9b:1::1',
      '2002:a00:1::1',
      'fec0::1',
    ]) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    // IPv4 inside IPv6 (mapped, compatible, NAT64, 6to4) is refused whatever IPv4 address it holds (issue 21).
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', 'example.com']) expect(isPrivateAddress(a), a).toBe(false);
  });

  it("refuses such URLs with 400 before the body, on uploads and on a library's webhook", async () => {
    for (const url of [
      `${receiver.url}/x`,
      'http://localhost:8080/x',
      'http://[::ffff:127.0.0.1]/x',
      'http://169.254.169.254/latest/meta-data/',
      'https://10.0.0.8/hook',
    ]) {
      const res = await svc.fetch('/v1/libraries/default/files', {
        method: 'POST',
        headers: { 'webhook-url': url },
        body: form({ file: { name: 'x.txt', data: 'x' } }),
      });
      expect(res.status, url).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/loopback, private or link-local.*WEBHOOK_ALLOW_PRIVATE=true/);
    }
    const put = await svc.fetch('/v1/libraries/default/webhook', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${receiver.url}/lib` }),
    });
    expect(put.status).toBe(400);
    expect(receiver.received).toHaveLength(0);
  });

  it('at delivery, a host name that resolves to a loopback address fails for good without a connection; allowed, it is delivered', async () => {
    const port = new URL(receiver.url).port;
    const job = {
      id: 'wh-1',
      attemptsMade: 0,
      data: { url: `http://localhost:${port}/resolved`, body: '{"type":"resource.ready"}', event: 'resource.ready' },
    } as unknown as Job<WebhookPayload>;
    const logger = createLogger('silent', 'webhook-test');
    const refused = webhookProcessor({ secret: SECRET, timeoutMs: 5_000, logger, allowPrivate: false })(job);
    await expect(refused).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(refused).rejects.toThrow(/localhost is a loopback, private or link-local address/);
    expect(receiver.received).toHaveLength(0);

    await webhookProcessor({ secret: SECRET, timeoutMs: 5_000, logger, allowPrivate: true })(job);
    expect(receiver.received.map((r) => r.path)).toEqual(['/resolved']);
    expect(verified(receiver.received[0]!)).toBe(true);
  });

  it('a name other than localhost is judged by what it resolves to when the webhook is sent', async (ctx) => {
    // This machine's own name resolves to a loopback or private address almost everywhere.
    const name = os.hostname();
    const addresses = await dns.lookup(name, { all: true }).catch(() => []);
    if (addresses.length === 0 || !addresses.every((a) => isPrivateAddress(a.address)))
      ctx.skip(`${name} does not resolve to private addresses only here`);
    receiver.received.length = 0;
    const port = new URL(receiver.url).port;
    const job = {
      id: 'wh-2',
      attemptsMade: 0,
      data: { url: `http://${name}:${port}/by-name`, body: '{}', event: 'resource.ready' },
    } as unknown as Job<WebhookPayload>;
    const refused = webhookProcessor({
      secret: SECRET,
      timeoutMs: 5_000,
      logger: createLogger('silent', 'webhook-test'),
      allowPrivate: false,
    })(job);
    await expect(refused).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(refused).rejects.toThrow(new RegExp(`${name} resolves to .*, a loopback, private or link-local address`));
    expect(receiver.received).toHaveLength(0);
  });
});

describe('without WEBHOOK_SECRET', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', { worker: false });
  });
  afterAll(async () => svc?.close());

  it('refuses uploads that ask for a webhook, saying why', async () => {
    const res = await svc.fetch('/v1/libraries/default/files?webhook=http://127.0.0.1:1/x', {
      method: 'POST',
      body: form({ file: { name: 'x.txt', data: 'x' } }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/WEBHOOK_SECRET is not set/);
  });
});
