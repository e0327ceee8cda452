import { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../deps.js';

const CHECK_TIMEOUT_MS = 2_000;

/** Liveness (the process answers) and readiness (Redis and storage answer). No auth. */
export function healthRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const [redis, storage] = await Promise.all([check(() => deps.catalog.ping()), check(() => deps.store.ping())]);
    const ready = redis === 'ok' && storage === 'ok';
    if (!ready) c.header('Retry-After', '5');
    return c.json({ status: ready ? 'ready' : 'unavailable', checks: { redis, storage } }, ready ? 200 : 503);
  });

  return app;
}

async function check(fn: () => Promise<void>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)),
      ),
    ]);
    return 'ok';
  } catch (err) {
    return `unavailable: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}
