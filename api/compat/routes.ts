import { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../deps.js';
import type { AuthThrottle } from '../middleware/auth-throttle.js';
import { connectionsRoutes } from './connections.js';
import { copernicaRoutes } from './copernica.js';
import { flotiqRoutes } from './flotiq.js';
import { resourceSpaceRoutes } from './resourcespace.js';

/**
 * The four compatibility faces (docs/compatibility.md), one adapter each over
 * the same UploadService, catalog, jobs and waiter as the native API. None sits behind
 * the native Bearer check: each authenticates the way its system does, and every failed
 * authentication counts toward the client address's AUTH_FAILURES_PER_MINUTE.
 */
export function compatRoutes(deps: AppDeps, throttle: AuthThrottle) {
  const app = new Hono<AppEnv>();
  app.route('/', resourceSpaceRoutes(deps, throttle));
  app.route('/', copernicaRoutes(deps, throttle));
  app.route('/', flotiqRoutes(deps, throttle));
  app.route('/', connectionsRoutes(deps, throttle));
  return app;
}
