import { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../deps.js';
import { connectionsRoutes } from './connections.js';
import { copernicaRoutes } from './copernica.js';
import { flotiqRoutes } from './flotiq.js';
import { resourceSpaceRoutes } from './resourcespace.js';

/**
 * The four compatibility faces (docs/compatibility.md), one adapter each over
 * the same UploadService, catalog, jobs and waiter as the native API. None sits behind
 * the native Bearer check: each authenticates the way its system does.
 */
export function compatRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  app.route('/', resourceSpaceRoutes(deps));
  app.route('/', copernicaRoutes(deps));
  app.route('/', flotiqRoutes(deps));
  app.route('/', connectionsRoutes(deps));
  return app;
}
