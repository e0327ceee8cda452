import { createApp } from '../../api/app.js';
import type { AppDeps } from '../../api/deps.js';
import { createLogger } from '../../shared/logger.js';
import type { TestService } from './service.js';

/**
 * Every route of the app as `METHOD /path` (sorted, each once, no `ALL` middleware
 * entries), read from an app built on the service's core. Only the route table is read:
 * the handlers are never called, so the dependencies only they use are left out.
 */
export function routeTable(svc: TestService): string[] {
  const unused = {} as never;
  const app = createApp({
    ...svc.core,
    config: svc.config,
    logger: createLogger('silent', 'test'),
    ingestQueue: unused,
    bulkQueue: unused,
    uploads: unused,
    tus: unused,
    waiter: unused,
    renders: unused,
  } as AppDeps);
  return [...new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`))].sort();
}
