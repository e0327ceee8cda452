import { createHash, randomBytes } from 'node:crypto';
import { Client, NotificationConfig, TopicConfig } from 'minio';
import { signV4 } from 'minio/dist/esm/signing.mjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3StorageConfig } from '../../shared/config.js';
import type { ResourceRecord } from '../../shared/model.js';
import { makeJpeg } from '../harness/images.js';
import { startS3Server, type S3ServerHandle } from '../harness/s3-server.js';
import { s3Missing, startService, type TestService } from '../harness/service.js';
import { until } from '../harness/until.js';

const TOKEN = 'events-token-0123456789abcdef';
type BatchView = { id: number; state: string; scanned: number; done: number; failed: number; missing: number };

/**
 * External library on an S3 prefix (issue 20), against the harness's Ceph radosgw: bad
 * sources, a scan of the prefix only, credentials never shown, and bucket notifications —
 * posted by the test in the S3 event JSON shape (duplicate, late, out of order), and, when
 * this radosgw takes an SNS topic with an HTTP push endpoint, sent by radosgw itself.
 */
describe.skipIf(s3Missing())('external library: s3 source', () => {
  let svc: TestService;
  let s3: Client;
  let s3cfg: S3StorageConfig;
  const bucket = `src-${randomBytes(4).toString('hex')}`;
  let libId: number;

  const post = (p: string, body: unknown, headers: Record<string, string> = {}) =>
    svc.fetch(p, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const event = (name: string, key: string) => ({
    eventName: name,
    s3: { bucket: { name: bucket }, object: { key: encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+') } },
  });
  const sendEvents = (records: unknown[], auth = `Bearer ${TOKEN}`) =>
    fetch(`${svc.url}/v1/libraries/${libId}/events`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ Records: records }),
    });
  const byName = async () =>
    new Map(
      (await svc.core.catalog.listResources({ library: libId, limit: 100 })).items.map((r) => [r.fileName, r] as [string, ResourceRecord]),
    );

  // A gateway of its own: radosgw 16 stops answering some time after it pushed a bucket
  // notification (seen in the full suite: every S3 test after this file failed with
  // ECONNREFUSED), so the push must not happen on the gateway the other files share.
  let gateway: S3ServerHandle;

  beforeAll(async () => {
    gateway = await startS3Server();
    svc = await startService('s3', {
      s3: gateway,
      env: { EXTERNAL_EVENTS_TOKEN: TOKEN, EXTERNAL_RECONCILE_SECONDS: '0', WORKER_CONCURRENCY: '4' },
    });
    s3cfg = svc.config.storage as S3StorageConfig;
    s3 = new Client({
      endPoint: s3cfg.endPoint,
      ...(s3cfg.port ? { port: s3cfg.port } : {}),
      useSSL: s3cfg.useSSL,
      accessKey: s3cfg.accessKey,
      secretKey: s3cfg.secretKey,
      region: s3cfg.region,
    });
    await s3.makeBucket(bucket, s3cfg.region);
    await s3.putObject(bucket, 'imgs/a.jpg', await makeJpeg(40, 30));
    await s3.putObject(bucket, 'imgs/b c.txt', Buffer.from('bee'));
    await s3.putObject(bucket, 'other/x.txt', Buffer.from('not in the prefix'));
  });
  afterAll(async () => {
    await svc?.close();
    await gateway?.stop();
  }, 60_000);

  it('refuses a bucket it cannot list, and bad members, with a one-line 400', async () => {
    const bad: [unknown, RegExp][] = [
      [{ type: 's3', bucket: `nope-${randomBytes(4).toString('hex')}`, prefix: '' }, /cannot be listed: NoSuchBucket/],
      [
        { type: 's3', bucket, prefix: '', credentials: { accessKey: 'wrong-key-123', secretKey: 'wrong-secret-123' } },
        /cannot be listed: InvalidAccessKeyId/,
      ],
      [{ type: 's3', bucket: 'Bad_Bucket', prefix: '' }, /bucket name/],
      [{ type: 's3', bucket, prefix: '/abs' }, /no leading "\/"/],
      [{ type: 's3', bucket, prefix: '', credentials: { accessKey: 'x' } }, /source.credentials/],
      [{ type: 'fs', path: '/tmp' }, /EXTERNAL_ROOTS is empty/],
    ];
    for (const [source, reason] of bad) {
      const res = await post('/v1/libraries', { name: `bad${randomBytes(3).toString('hex')}`, source });
      const body = (await res.json()) as { detail: string };
      expect(res.status, JSON.stringify(source)).toBe(400);
      expect(body.detail).toMatch(reason);
      expect(body.detail).not.toContain('\n');
      expect(body.detail).not.toContain('wrong-secret');
    }
  });

  it('scans the prefix in place; its own credentials are never shown', async () => {
    const res = await post('/v1/libraries', {
      name: `dam${randomBytes(3).toString('hex')}`,
      source: { type: 's3', bucket, prefix: 'imgs/', credentials: { accessKey: s3cfg.accessKey, secretKey: s3cfg.secretKey } },
    });
    const text = await res.text();
    expect(res.status, text).toBe(201);
    libId = (JSON.parse(text) as { id: number }).id;
    for (const answer of [
      text,
      await (await svc.fetch(`/v1/libraries/${libId}`)).text(),
      await (await svc.fetch('/v1/libraries')).text(),
    ]) {
      expect(answer).not.toContain(s3cfg.secretKey);
      expect(answer).toContain('"credentials":"set"');
    }
    const scan = (await (await svc.fetch(`/v1/libraries/${libId}/scan`, { method: 'POST' })).json()) as BatchView;
    const end = await until('scan to end', async () => {
      const b = (await (await svc.fetch(`/v1/batches/${scan.id}`)).json()) as BatchView;
      return b.state === 'completed' ? b : undefined;
    });
    expect(end).toMatchObject({ scanned: 2, done: 2, failed: 0, missing: 0 });
    const recs = await byName();
    expect([...recs.keys()].sort()).toEqual(['a.jpg', 'b c.txt']);
    expect(recs.get('a.jpg')).toMatchObject({
      status: 'ready',
      source: 'external',
      width: 40,
      height: 30,
      storageKey: `external/${libId}/imgs/a.jpg`,
    });
    expect(recs.get('b c.txt')).toMatchObject({ status: 'ready', checksum: createHash('sha256').update('bee').digest('hex') });
    expect((await svc.allObjects()).filter((k) => /\/original/.test(k))).toEqual([]);
  });

  it('bucket notifications: duplicate, late and out-of-order events leave one resource per key and mark missing only what is gone', async () => {
    expect((await sendEvents([event('s3:ObjectCreated:Put', 'imgs/a.jpg')], 'Bearer wrong-token-0123456789')).status).toBe(401);
    expect((await fetch(`${svc.url}/v1/libraries/${libId}/events?token=${TOKEN}`, { method: 'POST', body: '{"nope":1}' })).status).toBe(
      400,
    );

    await s3.putObject(bucket, 'imgs/new one.txt', Buffer.from('fresh'));
    const created = event('s3:ObjectCreated:Put', 'imgs/new one.txt');
    // Twice at once, and once more: one resource.
    const answers = await Promise.all([
      sendEvents([created, created]),
      sendEvents([created]),
      sendEvents([event('s3:ObjectCreated:Put', 'other/x.txt')]),
    ]);
    expect(await Promise.all(answers.map((r) => r.json()))).toEqual([{ accepted: 1 }, { accepted: 1 }, { accepted: 0 }]);
    await until('the new object ready', async () => (await byName()).get('new one.txt')?.status === 'ready');

    // A late "removed" for a key that exists: nothing is marked missing.
    const late = await fetch(`${svc.url}/v1/libraries/${libId}/events?token=${TOKEN}`, {
      method: 'POST',
      body: JSON.stringify({ Records: [event('s3:ObjectRemoved:Delete', 'imgs/a.jpg')] }),
    });
    expect(await late.json()).toEqual({ accepted: 1 });
    await s3.removeObject(bucket, 'imgs/b c.txt');
    await sendEvents([event('s3:ObjectRemoved:Delete', 'imgs/b c.txt'), event('s3:ObjectCreated:Put', 'imgs/b c.txt')]);
    await until('b missing', async () => (await byName()).get('b c.txt')?.status === 'missing');
    const recs = await byName();
    expect(recs.get('a.jpg')?.status).toBe('ready');
    expect([...recs.keys()].sort()).toEqual(['a.jpg', 'b c.txt', 'new one.txt']);
  });

  it(
    'radosgw pushes its own notifications here when it takes an SNS topic with an HTTP push endpoint',
    { timeout: 60_000 },
    async (ctx) => {
      const topic = `mi-${randomBytes(3).toString('hex')}`;
      const push = `${svc.url}/v1/libraries/${libId}/events?token=${TOKEN}`;
      const created = await rgwSns(s3cfg, {
        Action: 'CreateTopic',
        Name: topic,
        'Attributes.entry.1.key': 'push-endpoint',
        'Attributes.entry.1.value': push,
      });
      if (created.status !== 200) {
        ctx.skip(
          `radosgw refused CreateTopic (${created.status}: ${created.body.slice(0, 120)}); the event JSON was posted by the test above instead`,
        );
        return;
      }
      const arn = /<TopicArn>([^<]+)<\/TopicArn>/.exec(created.body)?.[1];
      expect(arn).toBeTruthy();
      const config = new NotificationConfig();
      const target = new TopicConfig(arn!);
      // radosgw requires the Id (MalformedXML without).
      target.setId('media-ingest');
      target.addEvent('s3:ObjectCreated:*' as never);
      target.addEvent('s3:ObjectRemoved:*' as never);
      target.addFilterPrefix('imgs/');
      config.add(target);
      await s3.setBucketNotification(bucket, config);
      await s3.putObject(bucket, 'imgs/pushed.txt', Buffer.from('sent by radosgw'));
      await until('radosgw to push the event', async () => (await byName()).get('pushed.txt')?.status === 'ready', 30_000);
      await rgwSns(s3cfg, { Action: 'DeleteTopic', TopicArn: arn! });
    },
  );
});

/** One SNS-style call on the radosgw endpoint, signed with SigV4 (minio's signer). */
async function rgwSns(cfg: S3StorageConfig, params: Record<string, string>): Promise<{ status: number; body: string }> {
  const body = new URLSearchParams(params).toString();
  const host = `${cfg.endPoint}${cfg.port ? `:${cfg.port}` : ''}`;
  const date = new Date();
  const amzDate = date.toISOString().replace(/[:-]|\.\d{3}/g, '');
  const sha = createHash('sha256').update(body).digest('hex');
  const headers: Record<string, string> = {
    host,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': sha,
    'content-type': 'application/x-www-form-urlencoded',
  };
  headers.authorization = signV4(
    { method: 'POST', path: '/', headers } as never,
    cfg.accessKey,
    cfg.secretKey,
    cfg.region,
    date,
    sha,
    'sns',
  );
  const res = await fetch(`${cfg.useSSL ? 'https' : 'http'}://${host}/`, { method: 'POST', headers, body });
  return { status: res.status, body: await res.text() };
}
