import { Hono } from 'hono';
import { registry } from '../../shared/metrics.js';
import type { AppEnv } from '../deps.js';

/**
 * Prometheus exposition of this process's registry (shared/metrics.ts). No key, like
 * /healthz: scrapers run inside the deployment's network; keep the path off any
 * public load balancer.
 */
export function metricsRoutes() {
  const app = new Hono<AppEnv>();
  app.get('/metrics', async (c) => {
    const body = await registry.metrics();
    return c.body(body, 200, { 'Content-Type': registry.contentType });
  });
  return app;
}
