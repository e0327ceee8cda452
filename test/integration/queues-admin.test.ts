// The queue dashboard (bull-board) and per-lane pause/resume/retry-failed, behind ADMIN_KEYS.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { form, startService, type TestService } from '../harness/service.js';

const ADMIN = 'admin-key-0123456789abcdef';

describe('queue administration', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', { env: { ADMIN_KEYS: ADMIN } });
  });
  afterAll(async () => svc?.close());
  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${svc.url}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}` } });

  it('serves the dashboard to an admin key (Bearer or Basic), and asks a browser for Basic otherwise', async () => {
    const page = await admin('/admin/queues');
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('media-ingest queues');
    // The board's own scripts are served under it too (bull-board loads on the first visit).
    const script = /src="([^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await admin(new URL(script!, `${svc.url}/admin/queues/`).pathname);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    const basic = await fetch(`${svc.url}/admin/queues/api/queues`, {
      headers: { authorization: `Basic ${Buffer.from(`ops:${ADMIN}`).toString('base64')}` },
    });
    expect(basic.status).toBe(200);
    const names = ((await basic.json()) as { queues: { name: string }[] }).queues.map((q) => q.name).sort();
    expect(names).toEqual(['bulk', 'ingest', 'render', 'webhook']);

    const anon = await fetch(`${svc.url}/admin/queues`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm="media-ingest admin"/);
    // An API key is not an admin key.
    expect((await svc.fetch('/admin/queues')).status).toBe(401);
  });

  it('pauses a lane for every worker, resumes it, and retries its failed jobs', async () => {
    const paused = await admin('/admin/lanes/ingest/pause', { method: 'POST' });
    expect(paused.status).toBe(200);
    expect(((await paused.json()) as { queues: { queue: string; paused: boolean }[] }).queues.every((q) => q.paused)).toBe(true);
    const res = await svc.fetch('/v1/libraries/default/files?wait=2', {
      method: 'POST',
      body: form({ file: { name: 'p.txt', data: `paused ${randomBytes(6).toString('hex')}` } }),
    });
    expect(res.status, 'not processed while the lane is paused').toBe(202);
    const { resources } = (await res.json()) as { resources: { jobId: string }[] };
    expect((await admin('/admin/lanes/ingest/resume', { method: 'POST' })).status).toBe(200);
    expect((await svc.fetch(`/v1/jobs/${resources[0]!.jobId}/wait?timeout=20`)).status).toBe(204);

    // A rejected duplicate leaves a failed job; retry-failed puts it back and it runs again.
    const data = `dup ${randomBytes(6).toString('hex')}`;
    const up = () => svc.fetch('/v1/libraries/default/files?wait=20', { method: 'POST', body: form({ file: { name: 'd.txt', data } }) });
    expect((await up()).status).toBe(204);
    expect((await up()).status).toBe(400);
    const retry = await admin('/admin/lanes/ingest/retry-failed', { method: 'POST' });
    expect(retry.status).toBe(200);
    expect(((await retry.json()) as { retried: number }).retried).toBeGreaterThanOrEqual(1);
    const lanes = (await (await admin('/admin/lanes')).json()) as { lanes: { lane: string; queues: { counts: { failed: number } }[] }[] };
    expect(lanes.lanes.map((l) => l.lane)).toEqual(['ingest', 'render', 'bulk']);
    expect((await admin('/admin/lanes/uploads/pause', { method: 'POST' })).status).toBe(404);
  });
});

describe('without ADMIN_KEYS', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', { worker: false, env: { ADMIN_KEYS: '' } });
  });
  afterAll(async () => svc?.close());

  it('has no dashboard at all', async () => {
    expect((await svc.fetch('/admin/queues')).status).toBe(404);
    expect((await svc.fetch('/admin/lanes/ingest/pause', { method: 'POST' })).status).toBe(404);
  });
});
