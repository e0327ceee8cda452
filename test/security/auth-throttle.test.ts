// Attack: guessing credentials. 3,000 wrong keys went through at ~2,100/s, all 401, and
// the compatibility faces and /image were outside any limit. Now failed authentications
// are counted per client address in Redis (AUTH_FAILURES_PER_MINUTE): past it, 429 with
// Retry-After on every way in — native, each face, /image, admin — and on every replica.
import { afterEach, describe, expect, it } from 'vitest';
import { startApi } from '../../api/server.js';
import { createLogger } from '../../shared/logger.js';
import { signedImageUrl } from '../../shared/renditions/signing.js';
import { makeJpeg } from '../harness/images.js';
import { basic, CREDENTIALS, credentialEnv, sha256Hex as sha } from '../harness/credentials.js';
import { form, startService, TEST_KEY, type TestService } from '../harness/service.js';

const LIMIT = 4;
const EVENTS_TOKEN = 'events-token-0123456789abcdef';
const {
  rsUser: RS_USER,
  rsKey: RS_KEY,
  copernicaToken: COPERNICA,
  flotiqKey: FLOTIQ,
  connectionsUser: CONN_USER,
  connectionsPassword: CONN_PASS,
  adminKey: ADMIN_KEY,
} = CREDENTIALS;

/** One way in: a wrong attempt, and the right one. */
type Way = { name: string; wrong: (url: string) => Promise<Response>; right: (url: string) => Promise<Response> };
const rsQuery = `user=${RS_USER}&function=get_resource_data&resource=1`;
const WAYS: Way[] = [
  {
    name: 'native Bearer',
    wrong: (u) => fetch(`${u}/v1/libraries`, { headers: { authorization: 'Bearer wrong-key-0123456789abcdef' } }),
    right: (u) => fetch(`${u}/v1/libraries`, { headers: { authorization: `Bearer ${TEST_KEY}` } }),
  },
  {
    name: 'admin',
    wrong: (u) => fetch(`${u}/admin/lanes`, { headers: { authorization: basic('ops', 'wrong-admin-0123456789') } }),
    right: (u) => fetch(`${u}/admin/lanes`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }),
  },
  {
    name: 'ResourceSpace',
    wrong: (u) => fetch(`${u}/api/?${rsQuery}&sign=${sha(`wrong${rsQuery}`)}`),
    right: (u) => fetch(`${u}/api/?${rsQuery}&sign=${sha(RS_KEY + rsQuery)}`),
  },
  {
    name: 'Copernica',
    wrong: (u) => fetch(`${u}/v3/medialibrary/default/files?access_token=wrong-0123456789abcdef`, { method: 'POST' }),
    right: (u) => fetch(`${u}/v3/medialibrary/default/files?access_token=${COPERNICA}`, { method: 'POST' }),
  },
  {
    name: 'Flotiq',
    wrong: (u) => fetch(`${u}/api/v1/content/_media`, { headers: { 'x-auth-token': 'wrong-0123456789abcdef' } }),
    right: (u) => fetch(`${u}/api/v1/content/_media`, { headers: { 'x-auth-token': FLOTIQ } }),
  },
  {
    name: 'Connections',
    wrong: (u) =>
      fetch(`${u}/files/basic/api/myuserlibrary/document/1/entry`, {
        headers: { authorization: basic(CONN_USER, 'wrong-0123456789abcdef') },
      }),
    right: (u) => fetch(`${u}/files/basic/api/myuserlibrary/document/1/entry`, { headers: { authorization: basic(CONN_USER, CONN_PASS) } }),
  },
  {
    name: '/image key',
    wrong: (u) => fetch(`${u}/image/0x0/1.jpg`, { headers: { authorization: 'Bearer wrong-key-0123456789abcdef' } }),
    right: (u) => fetch(`${u}/v1/image-url?path=/image/0x0/1.jpg`, { headers: { authorization: `Bearer ${TEST_KEY}` } }),
  },
  {
    name: '/image signature',
    wrong: (u) => fetch(`${u}${signedImageUrl('/image/0x0/1.jpg', 300, 'another-secret-0123456789abcdef0123456789')}`),
    right: (u) => fetch(`${u}/v1/libraries`, { headers: { authorization: `Bearer ${TEST_KEY}` } }),
  },
  {
    // A bucket's notification target: EXTERNAL_EVENTS_TOKEN, in the query or as Bearer.
    name: 'bucket events token',
    wrong: (u) => fetch(`${u}/v1/libraries/default/events?token=wrong-0123456789abcdef`, { method: 'POST', body: '{}' }),
    right: (u) => fetch(`${u}/v1/libraries/default/events?token=${EVENTS_TOKEN}`, { method: 'POST', body: '{}' }),
  },
];

describe('failed authentications are throttled per client address', () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });
  const start = () =>
    startService('fs', {
      worker: false,
      env: {
        AUTH_FAILURES_PER_MINUTE: String(LIMIT),
        EXTERNAL_EVENTS_TOKEN: EVENTS_TOKEN,
        ...credentialEnv(),
      },
    });

  it.each(WAYS.map((w) => [w.name, w] as const))(
    '%s: 401 up to the limit, then 429 with Retry-After — the right credential too',
    async (_name, way) => {
      svc = await start();
      // Resource 1 exists (a signature is checked once the resource is found).
      expect(
        (
          await svc.fetch('/v1/libraries/default/files', {
            method: 'POST',
            body: form({ file: { name: 'a.jpg', data: await makeJpeg(20, 20), type: 'image/jpeg' } }),
          })
        ).status,
      ).toBe(202);
      const statuses: number[] = [];
      for (let i = 0; i < LIMIT; i++) {
        const r = await way.wrong(svc.url);
        await r.body?.cancel();
        statuses.push(r.status);
      }
      expect(statuses.every((s) => s === 401 || s === 404 || s === 400)).toBe(true);
      expect(statuses.filter((s) => s === 401).length).toBe(LIMIT);
      const over = await way.wrong(svc.url);
      expect(over.status).toBe(429);
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await over.text()).toMatch(/failed authentications came from your address/);
      const right = await way.right(svc.url);
      await right.body?.cancel();
      expect(right.status).toBe(429);
    },
  );

  it('counts across faces and across replicas: failures on one replica block the address on the other', async () => {
    svc = await start();
    const replica = await startApi(svc.config, svc.core, svc.config.redis.url!, createLogger('silent', 'test'));
    try {
      // Spread over faces and both replicas.
      // LIMIT failures pass as 401s; the next, on any face and replica, is over it.
      for (const [i, way] of WAYS.slice(0, LIMIT + 1).entries()) await (await way.wrong(i % 2 ? replica.url : svc.url)).body?.cancel();
      const next = await WAYS[0]!.right(replica.url);
      expect(next.status).toBe(429);
      const image = await WAYS[6]!.wrong(svc.url);
      expect(image.status).toBe(429);
      // Requests that authenticate nothing are not throttled.
      expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    } finally {
      await replica.close();
    }
  });

  it('bucket events: the right token draws on RATE_LIMIT_PER_MINUTE like an API key (429 with Retry-After past it)', async () => {
    svc = await startService('fs', { worker: false, env: { RATE_LIMIT_PER_MINUTE: '2', EXTERNAL_EVENTS_TOKEN: EVENTS_TOKEN } });
    const post = (auth: Record<string, string>, query = '') =>
      fetch(`${svc!.url}/v1/libraries/default/events${query}`, { method: 'POST', body: '{}', headers: auth });
    // Counted per token, whether it comes as Bearer or in the query; "default" has no s3 source: 400.
    expect((await post({ authorization: `Bearer ${EVENTS_TOKEN}` })).status).toBe(400);
    expect((await post({}, `?token=${EVENTS_TOKEN}`)).status).toBe(400);
    const over = await post({}, `?token=${EVENTS_TOKEN}`);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The API key's allowance is its own.
    expect((await svc!.fetch('/v1/libraries')).status).toBe(200);
  });
});
