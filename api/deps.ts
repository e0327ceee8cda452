import type { HttpBindings } from '@hono/node-server';
import type { RedisConnection } from '../shared/redis.js';
import type { Config } from '../shared/config.js';
import type { Catalog } from '../shared/catalog/catalog.js';
import type { JobWaiter } from '../shared/jobs/job-waiter.js';
import type { BulkQueue, IngestQueue } from '../shared/jobs/queue-table.js';
import type { RenderWaiter } from '../shared/jobs/render-waiter.js';
import type { Logger } from '../shared/logger.js';
import type { TusService } from '../shared/services/tus-service.js';
import type { UploadService } from '../shared/services/upload-service.js';
import type { ObjectStore } from '../shared/storage/object-store.js';
import type { Access } from './middleware/auth.js';

/** Everything the HTTP layer needs, built by the caller (main, start, tests). */
export interface AppDeps {
  config: Config;
  catalog: Catalog;
  /** The catalog's connection, for operator work that rewrites it (reindex). */
  redis: RedisConnection;
  store: ObjectStore;
  ingestQueue: IngestQueue;
  /** The bulk lane (shared/jobs/lanes.ts): bulk reverts' fan-out. */
  bulkQueue: BulkQueue;
  uploads: UploadService;
  /** Resumable (tus) uploads; built beside `uploads`, whose commit it ends in. */
  tus: TusService;
  waiter: JobWaiter;
  /** On-demand renders for `/image/…` (the worker renders, the API waits). */
  renders: RenderWaiter;
  logger: Logger;
  /** Base of links the API builds; the bound address when PUBLIC_URL is unset and PORT=0. @defaultValue config.http.publicUrl */
  publicUrl?: string;
}

/**
 * The app's Hono environment: @hono/node-server's bindings (the Node request and
 * response, for streaming bodies, `100 Continue` and the socket) and the per-request
 * variables the middleware sets.
 */
export type AppEnv = { Bindings: HttpBindings; Variables: { requestId: string; access: Access } };

/**
 * The Node request and response of `c`. Empty when the app is driven without
 * @hono/node-server (`app.request()` with no bindings): callers fall back to the Web request.
 */
export function nodeIo(c: { env: AppEnv['Bindings'] | undefined }): Partial<HttpBindings> {
  return c.env ?? {};
}
