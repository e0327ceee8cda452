import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry } from '../shared/metrics.js';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * A worker process's Prometheus endpoint: `GET /metrics` and nothing else, on its own
 * port (WORKER_METRICS_PORT). node:http, not the API's framework: the worker never
 * serves clients, and this is the whole of its HTTP. Scrape every worker container
 * (e.g. Prometheus `dns_sd_configs` on the compose service name `worker`).
 */
export async function startMetricsServer(port: number, host = '0.0.0.0'): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Only GET /metrics is served here.\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  // Prometheus keeps connections open between scrapes; they must not hold up shutdown.
  server.keepAliveTimeout = 5_000;
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
