// Abuse: every route, asked without a credential, with a wrong one and with a tampered
// one (a valid credential with one character changed, or signed for something else),
// must answer 401 — the native API, each compatibility face, signed image URLs. The
// route list is read from the app itself, so a new route that nobody put in a table
// here fails this test instead of shipping unguarded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedImageUrl } from '../../shared/renditions/signing.js';
import { makeJpeg } from '../harness/images.js';
import { basic, CREDENTIALS, credentialEnv, sha256Hex as sha } from '../harness/credentials.js';
import { routeTable } from '../harness/route-table.js';
import { form, startService, TEST_KEY, type TestService } from '../harness/service.js';

const {
  rsUser: RS_USER,
  rsKey: RS_KEY,
  copernicaToken: COPERNICA,
  flotiqKey: FLOTIQ,
  connectionsUser: CONN_USER,
  connectionsPassword: CONN_PASS,
  imageSecret: IMAGE_SECRET,
  adminKey: ADMIN_KEY,
} = CREDENTIALS;

/** Routes that answer without any credential, by design: probes, the scrape, the API's own documentation. */
const PUBLIC = [
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /docs',
  'GET /openapi.json',
  'GET /docs/assets/:file',
  'GET /console',
  'GET /console/',
  'GET /console/assets/:file',
];

const EVENTS_TOKEN = 'events-token-0123456789abcdef';
const isEvents = (r: string) => r === 'POST /v1/libraries/:library/events';

/** One character changed: the most likely forgery, and the one a prefix compare misses. */
const tamper = (s: string) => s.slice(0, -1) + (s.endsWith('x') ? 'y' : 'x');

describe('every route refuses missing, wrong and tampered credentials', () => {
  let svc: TestService;
  let routes: string[];
  let privateId: number;
  beforeAll(async () => {
    svc = await startService('fs', {
      env: {
        ...credentialEnv(),
        // This test makes a few hundred failed authentications from one address on
        // purpose; the throttle that would answer 429 has tests of its own (test/security).
        AUTH_FAILURES_PER_MINUTE: '0',
        EXTERNAL_EVENTS_TOKEN: EVENTS_TOKEN,
      },
    });
    routes = routeTable(svc);
    const res = await svc.fetch('/v1/libraries/default/files?wait=30', {
      method: 'POST',
      body: form({ file: { name: 'p.jpg', data: await makeJpeg(64, 48), type: 'image/jpeg' } }),
    });
    expect(res.status).toBe(204);
    privateId = Number(res.headers.get('x-resource-id'));
  });
  afterAll(async () => {
    await svc?.close();
  });

  /** A concrete path for a route pattern. */
  const concrete = (p: string) =>
    p
      .replace(':library', 'default')
      .replace(':sha', '0'.repeat(64))
      .replace(':size', '0x0')
      .replace(':file', `${privateId}.jpg`)
      // Not the private resource: the valid-credential pass calls DELETE too.
      .replace(/:(queueName|lane)\b/, 'ingest')
      .replace(':queueStatus', 'failed')
      .replace('*', 'x.js')
      .replace(/:id\b/, p.startsWith('/v1/batches') ? 'b-1' : '999999')
      .replace(/:\w+/g, '1');

  async function call(route: string, headers: Record<string, string> = {}, query = '', fields?: Record<string, string>): Promise<Response> {
    const [method, p] = route.split(' ') as [string, string];
    const sep = concrete(p).includes('?') ? '&' : '?';
    const init: RequestInit = { method, headers };
    if (method === 'POST' || method === 'PUT') init.body = form({ ...fields, file: { name: 'x.txt', data: 'auth probe' } });
    return fetch(`${svc.url}${concrete(p)}${query ? sep + query : ''}`, init);
  }

  // Each face: its routes, and how to send no / a wrong / a tampered / the right credential.
  type Cred = { headers?: Record<string, string>; query?: string; fields?: Record<string, string> };
  type Face = { name: string; match: (route: string) => boolean; creds: Record<'missing' | 'wrong' | 'tampered' | 'valid', Cred> };
  const RS_Q = `user=${RS_USER}&function=get_resource_data&ref=1`;
  /** ResourceSpace: a GET signs its own query string; a POST sends query, sign and user as form fields. */
  const rs = (sign: string | undefined, q = RS_Q): Cred => ({
    query: sign === undefined ? q : `${q}&sign=${sign}`,
    fields: { query: q, user: RS_USER, ...(sign === undefined ? {} : { sign }) },
  });
  const faces: Face[] = [
    {
      name: 'native (Bearer)',
      match: (r) => r.split(' ')[1]!.startsWith('/v1/') && !r.split(' ')[1]!.startsWith('/v1/admin/') && !isEvents(r),
      creds: {
        missing: {},
        wrong: { headers: { authorization: 'Bearer wrong-key-0123456789abcdef' } },
        tampered: { headers: { authorization: `Bearer ${tamper(TEST_KEY)}` } },
        valid: { headers: { authorization: `Bearer ${TEST_KEY}` } },
      },
    },
    {
      // A bucket's notification target cannot send API keys: EXTERNAL_EVENTS_TOKEN instead.
      name: 'bucket events (EXTERNAL_EVENTS_TOKEN)',
      match: isEvents,
      creds: {
        missing: {},
        wrong: { headers: { authorization: 'Bearer wrong-token-0123456789abcdef' } },
        tampered: { query: `token=${tamper(EVENTS_TOKEN)}` },
        valid: { query: `token=${EVENTS_TOKEN}` },
      },
    },
    {
      name: 'operator (ADMIN_KEYS)',
      match: (r) => r.split(' ')[1]!.startsWith('/admin/') || r.split(' ')[1]!.startsWith('/v1/admin/'),
      creds: {
        missing: {},
        // An uploading client's API key must not open the operator pages.
        wrong: { headers: { authorization: `Bearer ${TEST_KEY}` } },
        tampered: { headers: { authorization: basic('ops', tamper(ADMIN_KEY)) } },
        valid: { headers: { authorization: `Bearer ${ADMIN_KEY}` } },
      },
    },
    {
      name: 'ResourceSpace (signed query)',
      match: (r) => /^(GET|POST) \/api\/?$/.test(r),
      creds: {
        missing: rs(undefined),
        wrong: rs(sha(`not-the-key${RS_Q}`)),
        // Signed for resource 1, sent for resource 2: the query was tampered with.
        tampered: rs(sha(RS_KEY + RS_Q), RS_Q.replace('ref=1', 'ref=2')),
        valid: rs(sha(RS_KEY + RS_Q)),
      },
    },
    {
      name: 'Copernica (access_token)',
      match: (r) => r.includes('/v3/medialibrary/'),
      creds: {
        missing: {},
        wrong: { query: 'access_token=nope-0123456789' },
        tampered: { query: `access_token=${tamper(COPERNICA)}` },
        valid: { query: `access_token=${COPERNICA}` },
      },
    },
    {
      name: 'Flotiq (X-AUTH-TOKEN)',
      match: (r) => / \/api\/(media|v1\/content\/_media|unsplash)/.test(r),
      creds: {
        missing: {},
        wrong: { headers: { 'x-auth-token': 'nope-0123456789abcdef' } },
        tampered: { headers: { 'x-auth-token': tamper(FLOTIQ) } },
        valid: { headers: { 'x-auth-token': FLOTIQ } },
      },
    },
    {
      name: 'Connections (HTTP Basic)',
      match: (r) => r.includes('/files/basic/api/'),
      creds: {
        missing: {},
        wrong: { headers: { authorization: basic('nobody', CONN_PASS) } },
        tampered: { headers: { authorization: basic(CONN_USER, tamper(CONN_PASS)) } },
        valid: { headers: { authorization: basic(CONN_USER, CONN_PASS) } },
      },
    },
  ];
  const isImage = (r: string) => / \/image\//.test(r);

  it('knows every route: each is public by design, an image route, or behind one face', () => {
    const unclaimed = routes.filter((r) => !PUBLIC.includes(r) && !isImage(r) && faces.filter((f) => f.match(r)).length !== 1);
    expect(unclaimed, 'routes no auth table covers (add them to a face, or to PUBLIC with a reason)').toEqual([]);
    // The table is not vacuous: the native API and each face have routes.
    for (const f of faces) expect(routes.filter(f.match).length, f.name).toBeGreaterThan(0);
  });

  it.each(['missing', 'wrong', 'tampered'] as const)('answers 401 to a %s credential on every route of every face', async (kind) => {
    const refused: string[] = [];
    const let_through: string[] = [];
    for (const f of faces) {
      for (const route of routes.filter(f.match)) {
        const c = f.creds[kind];
        const res = await call(route, c.headers, c.query, c.fields);
        await res.body?.cancel();
        (res.status === 401 ? refused : let_through).push(`${f.name}: ${route} → ${res.status}`);
      }
    }
    expect(let_through).toEqual([]);
    console.log(`[auth] ${kind}: ${refused.length} routes refused with 401`);
  });

  it('lets the right credential through on every route (so the 401s above are about the credential)', async () => {
    const refused: string[] = [];
    for (const f of faces) {
      for (const route of routes.filter(f.match)) {
        const c = f.creds.valid;
        const res = await call(route, c.headers, c.query, c.fields);
        await res.body?.cancel();
        if (res.status === 401) refused.push(`${f.name}: ${route}`);
      }
    }
    expect(refused).toEqual([]);
  });

  it('image routes: a private resource needs a key or a valid signature; tampered and expired signatures are refused', async () => {
    const p = `/image/0x0/${privateId}.jpg`;
    const get = (url: string, headers: Record<string, string> = {}) => fetch(`${svc.url}${url}`, { headers });
    const ok = signedImageUrl(p, 300, IMAGE_SECRET);
    const cases: [string, Promise<Response>, number][] = [
      ['no credential', get(p), 401],
      ['wrong key', get(p, { authorization: 'Bearer wrong-key-0123456789abcdef' }), 401],
      ['tampered key', get(p, { authorization: `Bearer ${tamper(TEST_KEY)}` }), 401],
      ['right key', get(p, { authorization: `Bearer ${TEST_KEY}` }), 200],
      ['valid signature', get(ok), 200],
      ['tampered signature', get(ok.replace(/sig=([0-9a-f])/, (_m, ch: string) => `sig=${ch === 'a' ? 'b' : 'a'}`)), 401],
      ['signature of another resource', get(ok.replace(`/${privateId}.jpg`, `/${privateId + 1}.jpg`)), 401],
      ['signature of another size', get(ok.replace('/0x0/', '/64x0/')), 401],
      ['extended expiry', get(ok.replace(/exp=(\d+)/, (_m, e: string) => `exp=${Number(e) + 3600}`)), 401],
      ['expired signature', get(signedImageUrl(p, -10, IMAGE_SECRET)), 401],
      ['signed with another secret', get(signedImageUrl(p, 300, tamper(IMAGE_SECRET))), 401],
    ];
    const got = await Promise.all(
      cases.map(async ([label, res, want]) => {
        const r = await res;
        await r.body?.cancel();
        return [label, r.status, want] as const;
      }),
    );
    expect(got.filter(([, status, want]) => status !== want)).toEqual([]);
  });
});
