import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, TEST_KEY, type TestService } from '../harness/service.js';

const ADMIN = 'admin-key-0123456789abcdef';

/** /v1/admin/* (reindex, sweep, check) takes an admin key: an API key that uploads is not enough. */
describe('operator routes under /v1/admin', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', { env: { ADMIN_KEYS: ADMIN }, worker: false });
  });
  afterAll(async () => {
    await svc?.close();
  });

  const call = (path: string, key: string, method = 'GET') =>
    fetch(`${svc.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      ...(method === 'POST' ? { body: '{}' } : {}),
    });

  it.each([
    ['GET', '/v1/admin/check'],
    ['POST', '/v1/admin/sweep'],
    ['POST', '/v1/admin/reindex'],
  ])('%s %s refuses an API key that is not an admin key, and accepts an admin key', async (method, path) => {
    const asClient = await call(path, TEST_KEY, method);
    expect(asClient.status).toBe(401);
    expect((await asClient.json()).detail).toMatch(/admin key \(ADMIN_KEYS\)/);
    const asAdmin = await call(path, ADMIN, method);
    expect(asAdmin.status).toBe(200);
  });

  it('an admin key is not an API key', async () => {
    expect((await call('/v1/libraries', ADMIN)).status).toBe(401);
    expect((await call('/v1/libraries', TEST_KEY)).status).toBe(200);
  });

  it('without ADMIN_KEYS the operator routes do not exist', async () => {
    const bare = await startService('fs', { env: { ADMIN_KEYS: '' }, worker: false });
    try {
      const res = await fetch(`${bare.url}/v1/admin/check`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
      expect(res.status).toBe(404);
    } finally {
      await bare.close();
    }
  });
});
