// The routes the web console relies on, without a browser (test/browser drives the page):
// its page and assets, GET /v1/queues, and the status/type filters of GET /v1/resources.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newResourceRecord } from '../../shared/catalog/new-record.js';
import { makeJpeg } from '../harness/images.js';
import { form, startService, TEST_KEY, type TestService } from '../harness/service.js';
import { buildConsole } from '../browser/chromium.js';

/** An API key that is not an admin key. */
const PLAIN_KEY = 'plain-key-0123456789abcdef';

describe('console routes', () => {
  let svc: TestService;
  beforeAll(async () => {
    buildConsole();
    svc = await startService('fs', { env: { API_KEYS: `${TEST_KEY},${PLAIN_KEY}`, ADMIN_KEYS: TEST_KEY } });
  }, 60_000);
  afterAll(async () => svc?.close());

  it('serves the page without a key, under a CSP that allows only this origin, and its hashed assets for good', async () => {
    const res = await fetch(`${svc.url}/console`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toMatch(/style-src 'self'(;|$)/);
    expect(csp).toMatch(/connect-src 'self'(;|$)/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    const html = await res.text();
    expect(html).not.toMatch(/<script>|<style>|\sstyle="|\son\w+="/);
    const assets = [...html.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toHaveLength(2);
    for (const a of assets) {
      const r = await fetch(`${svc.url}${a}`);
      expect(r.status, a).toBe(200);
      expect(r.headers.get('cache-control')).toMatch(/immutable/);
      expect(r.headers.get('content-type')).toMatch(a.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
    }
    expect((await fetch(`${svc.url}/console/`, { redirect: 'manual' })).headers.get('location')).toBe('/console');
    expect((await fetch(`${svc.url}/console/assets/nothing.js`)).status).toBe(404);
    expect((await fetch(`${svc.url}/console/assets/..%2Findex.html`)).status).toBe(404);
  });

  it('GET /v1/whoami says whether the key is an admin key, answering 200 either way', async () => {
    expect(await (await svc.fetch('/v1/whoami')).json()).toEqual({ admin: true });
    const plain = await fetch(`${svc.url}/v1/whoami`, { headers: { authorization: `Bearer ${PLAIN_KEY}` } });
    expect(plain.status).toBe(200);
    expect(await plain.json()).toEqual({ admin: false });
    expect((await fetch(`${svc.url}/v1/whoami`, { headers: { authorization: 'Bearer wrong-key-0123456789abcdef' } })).status).toBe(401);
    // Without ADMIN_KEYS the admin routes do not exist, and no key is an admin key.
    const noAdmins = await startService('fs', { worker: false, env: { ADMIN_KEYS: '' } });
    try {
      const res = await noAdmins.fetch('/v1/whoami');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ admin: false });
    } finally {
      await noAdmins.close();
    }
  });

  it('GET /v1/queues: depth per lane and the latest failures with their reasons, for an API key', async () => {
    expect((await fetch(`${svc.url}/v1/queues`)).status).toBe(401);
    // A rejected duplicate leaves a failed ingest job.
    const data = `dup ${randomBytes(6).toString('hex')}`;
    const up = () => svc.fetch('/v1/libraries/default/files?wait=20', { method: 'POST', body: form({ file: { name: 'd.txt', data } }) });
    expect((await up()).status).toBe(204);
    const dup = await up();
    expect(dup.status).toBe(400);
    const dupId = Number(dup.headers.get('x-resource-id'));
    const body = (await (await svc.fetch('/v1/queues')).json()) as {
      lanes: { lane: string; queues: { queue: string; paused: boolean; counts: Record<string, number> }[] }[];
      failures: { queue: string; reason: string; resourceId: number | null; failedAt: string }[];
    };
    expect(body.lanes.map((l) => l.lane)).toEqual(['ingest', 'render', 'bulk']);
    expect(body.lanes[0]!.queues.map((q) => q.queue)).toEqual(['ingest', 'webhook']);
    expect(body.lanes[0]!.queues[0]!.counts.failed).toBeGreaterThanOrEqual(1);
    const failure = body.failures.find((f) => f.reason.includes('Duplicate'));
    expect(failure, JSON.stringify(body.failures)).toBeDefined();
    expect(failure!.queue).toBe('ingest');
    if (dupId) expect(failure!.resourceId).toBe(dupId);
    expect(Date.parse(failure!.failedAt)).toBeGreaterThan(0);
  });

  it('filters resources by status and type, and pages through the matches with the cursor', async () => {
    await svc.fetch('/v1/libraries', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'filters' }),
    });
    const upload = (name: string, data: Uint8Array | string) =>
      svc.fetch('/v1/libraries/filters/files?wait=30', { method: 'POST', body: form({ file: { name, data } }) });
    for (const [i, w] of [300, 320, 340].entries()) expect((await upload(`p${i}.jpg`, await makeJpeg(w, 200))).status).toBe(204);
    expect((await upload('notes.txt', `notes ${randomBytes(4).toString('hex')}`)).status).toBe(204);
    // A JPEG cut short fails ingest.
    const broken = (await makeJpeg(400, 300)).subarray(0, 600);
    expect((await upload('broken.jpg', broken)).status).toBe(422);

    const list = async (q: string) =>
      (await (await svc.fetch(`/v1/resources?library=filters&${q}`)).json()) as {
        resources: { fileName: string; status: string; type: string }[];
        nextCursor: string | null;
        links: { next: string | null };
      };
    expect((await list('type=file')).resources.map((r) => r.fileName)).toEqual(['notes.txt']);
    expect((await list('status=failed')).resources.map((r) => r.fileName)).toEqual(['broken.jpg']);
    expect((await list('status=ready&type=image')).resources.map((r) => r.fileName)).toEqual(['p0.jpg', 'p1.jpg', 'p2.jpg']);

    const names: string[] = [];
    let next: string | null = '/v1/resources?library=filters&status=ready&type=image&limit=2';
    while (next) {
      const page = (await (await svc.fetch(next)).json()) as Awaited<ReturnType<typeof list>>;
      expect(page.resources.length).toBeLessThanOrEqual(2);
      names.push(...page.resources.map((r) => r.fileName));
      if (page.links.next) expect(page.links.next).toMatch(/status=ready&type=image/);
      next = page.links.next;
    }
    expect(names).toEqual(['p0.jpg', 'p1.jpg', 'p2.jpg']);

    const bad = await svc.fetch('/v1/resources?status=done');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { detail: string }).detail).toMatch(/status/);
  });

  it('a filtered page looks at a bounded stretch of the index: a rare status far away takes more pages, never one long request', async () => {
    const lib = (await (
      await svc.fetch('/v1/libraries', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'many' }),
      })
    ).json()) as { id: number };
    const catalog = svc.core.catalog;
    const records = [];
    for (let i = 0; i < 6_001; i++) {
      const id = await catalog.allocateResourceId();
      records.push(
        newResourceRecord({ id, library: lib.id, fileName: `r${i}.txt`, source: 'upload', status: i === 6_000 ? 'failed' : 'ready' }),
      );
    }
    for (let i = 0; i < records.length; i += 1_000) await catalog.createResources(records.slice(i, i + 1_000));

    const first = (await (await svc.fetch('/v1/resources?library=many&status=failed')).json()) as {
      resources: unknown[];
      nextCursor: string | null;
    };
    expect(first.resources).toEqual([]);
    expect(first.nextCursor).not.toBeNull();
    const second = (await (await svc.fetch(`/v1/resources?library=many&status=failed&cursor=${first.nextCursor}`)).json()) as {
      resources: { fileName: string }[];
      nextCursor: string | null;
    };
    expect(second.resources.map((r) => r.fileName)).toEqual(['r6000.txt']);
    expect(second.nextCursor).toBeNull();
  });
});
