// Operating many replicas: Prometheus metrics (API and worker), the request id that
// follows an upload into its job, and the per-key rate limit shared by API replicas.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../../shared/metrics.js';
import { startMetricsServer } from '../../worker/metrics-server.js';
import { form, startService, TEST_KEY, type TestService } from '../harness/service.js';

/** One sample's value from Prometheus text: `name{labels} value`. 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

async function upload(svc: TestService, data: string, query = '?wait=20'): Promise<Response> {
  return svc.fetch(`/v1/libraries/default/files${query}`, {
    method: 'POST',
    body: form({ file: { name: 'a.txt', data, type: 'text/plain' } }),
  });
}

describe('GET /metrics and the request id', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', { env: { RATE_LIMIT_PER_MINUTE: '0' } });
  });
  afterAll(async () => svc?.close());

  it('reports HTTP latency by route pattern and status, bytes ingested, queue depth per lane and job durations', async () => {
    const before = await (await fetch(`${svc.url}/metrics`)).text();
    const data = `hello ${randomBytes(8).toString('hex')}`;
    const res = await upload(svc, data);
    expect(res.status).toBe(204);
    await svc.fetch('/v1/resources/999999999');

    const res2 = await fetch(`${svc.url}/metrics`);
    expect(res2.status).toBe(200);
    expect(res2.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res2.text();
    const route = { method: 'POST', route: '/v1/libraries/:library/files', status: '204' };
    expect(
      sample(text, 'media_ingest_http_request_duration_seconds_count', route) -
        sample(before, 'media_ingest_http_request_duration_seconds_count', route),
    ).toBe(1);
    // The pattern, not the path: no series per resource id.
    expect(
      sample(text, 'media_ingest_http_request_duration_seconds_count', { route: '/v1/resources/:id', status: '404' }),
    ).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain('/v1/resources/999999999');
    const bytes = { source: 'upload' };
    expect(sample(text, 'media_ingest_ingested_bytes_total', bytes) - sample(before, 'media_ingest_ingested_bytes_total', bytes)).toBe(
      Buffer.byteLength(data),
    );
    for (const lane of ['ingest', 'render', 'bulk'])
      expect(text).toMatch(new RegExp(`media_ingest_queue_jobs\\{lane="${lane}",queue="\\w+",state="waiting"\\} \\d+`));
    // The in-process worker shares the registry: its job durations are here too.
    expect(
      sample(text, 'media_ingest_job_duration_seconds_count', { queue: 'ingest', job: 'ingest', outcome: 'completed' }),
    ).toBeGreaterThanOrEqual(1);
    expect(text).toContain('media_ingest_nodejs_eventloop_lag_seconds');
  });

  it('counts a failed job attempt by job type, final when no retry follows', async () => {
    const label = { queue: 'ingest', job: 'ingest', final: 'true' };
    const before = sample(await registry.metrics(), 'media_ingest_job_failures_total', label);
    // A duplicate under the default `reject` policy fails its job for good.
    const data = `dup ${randomBytes(8).toString('hex')}`;
    expect((await upload(svc, data)).status).toBe(204);
    expect((await upload(svc, data)).status).toBe(400);
    expect(sample(await registry.metrics(), 'media_ingest_job_failures_total', label) - before).toBe(1);
  });

  it('echoes X-Request-Id and puts it into the ingest job', async () => {
    const id = `req-${randomBytes(6).toString('hex')}`;
    const res = await svc.fetch('/v1/libraries/default/files', {
      method: 'POST',
      headers: { 'x-request-id': id },
      body: form({ file: { name: 'b.txt', data: `rid ${id}`, type: 'text/plain' } }),
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-request-id')).toBe(id);
    const { resources } = (await res.json()) as { resources: { jobId: string }[] };
    const queue = (await import('../../shared/jobs/queue-table.js')).openQueue('ingest', svc.core.redis, svc.config.redis.prefix);
    try {
      const job = await queue.getJob(resources[0]!.jobId);
      expect(job?.data.requestId).toBe(id);
    } finally {
      await queue.close();
    }
  });

  it("serves a worker process's registry on its own port, and nothing else there", async () => {
    const server = await startMetricsServer(0, '127.0.0.1');
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('# TYPE media_ingest_job_duration_seconds histogram');
      expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

describe('per-key rate limit across API replicas', () => {
  const prefix = `rl${randomBytes(4).toString('hex')}`;
  let a: TestService;
  let b: TestService;
  beforeAll(async () => {
    // Two API processes' worth of app on one Redis prefix: the allowance is shared.
    const env = { RATE_LIMIT_PER_MINUTE: '5', REDIS_PREFIX: prefix, API_KEYS: `${TEST_KEY},other-key-0123456789abcdef` };
    [a, b] = await Promise.all([startService('fs', { env, worker: false }), startService('fs', { env, worker: false })]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('answers 429 with Retry-After once the key used its requests on either replica, and counts other keys apart', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await (i % 2 ? b : a).fetch('/v1/libraries')).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const refused = await b.fetch('/v1/libraries');
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    const problem = (await refused.json()) as { code: string; detail: string };
    expect(problem.code).toBe('rate_limited');
    expect(problem.detail).toMatch(/more than 5 requests in a minute; retry in \d+ s/);
    expect((await a.fetch('/v1/libraries')).status).toBe(429);

    const other = await fetch(`${a.url}/v1/libraries`, { headers: { authorization: 'Bearer other-key-0123456789abcdef' } });
    expect(other.status).toBe(200);
    expect(other.headers.get('ratelimit-remaining')).toBe('4');
    // Unauthenticated requests are refused before they count, and health checks never do.
    expect((await fetch(`${a.url}/v1/libraries`)).status).toBe(401);
    expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
  });
});
