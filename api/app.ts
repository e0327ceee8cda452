import { OpenAPIHono } from '@hono/zod-openapi';
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { LibraryWebhooks } from '../shared/catalog/webhooks.js';
import { NotFoundError } from '../shared/errors.js';
import { ImageService } from '../shared/services/image-service.js';
import { ResourceService } from '../shared/services/resource-service.js';
import type { AppDeps, AppEnv } from './deps.js';
import { errorHandler, problemResponse, toProblem } from './error-handler.js';
import { accessLog } from './middleware/access-log.js';
import { adminAuth } from './middleware/admin-auth.js';
import { apiKeyAuth, bearerAuth } from './middleware/auth.js';
import { AuthThrottle } from './middleware/auth-throttle.js';
import { bodyLimit } from './middleware/body-limit.js';
import { connectionLimit } from './middleware/connection-limit.js';
import { rateLimit } from './middleware/rate-limit.js';
import { requestDeadline } from './middleware/request-timeout.js';
import { scope } from './middleware/scope.js';
import { ApiKeyStore } from '../shared/catalog/api-keys.js';
import { apiKeysRoutes } from './routes/api-keys.js';
import { webhookUrl } from './middleware/webhook-url.js';
import { metricsRoutes } from './routes/metrics.js';
import { queuesAdminRoutes } from './routes/queues-admin.js';
import { webhooksRoutes } from './routes/webhooks.js';
import { docsRoutes } from './routes/docs.js';
import { consoleRoutes } from './routes/console.js';
import { directUploadsRoutes } from './routes/direct-uploads.js';
import { validationHook } from './validation.js';
import { compatRoutes } from './compat/routes.js';
import { adminRoutes } from './routes/admin.js';
import { expectContinue } from './middleware/expect-continue.js';
import { checksumsRoutes } from './routes/checksums.js';
import { filesRoutes } from './routes/files.js';
import { healthRoutes } from './routes/health.js';
import { imagesRoutes } from './routes/images.js';
import { jobsRoutes } from './routes/jobs.js';
import { librariesRoutes } from './routes/libraries.js';
import { mappingsRoutes } from './routes/mappings.js';
import { queuesRoutes } from './routes/queues.js';
import { whoamiRoutes } from './routes/whoami.js';
import { reprocessRoutes } from './routes/reprocess.js';
import { resourcesRoutes } from './routes/resources.js';
import { tusRoutes } from './routes/tus.js';
import { externalEventRoutes, externalRoutes } from './routes/external.js';

/** Version of the native API in the OpenAPI document. */
const API_VERSION = '1.0.0';

/** Routes that decide on the headers whether they want the body (see expect-continue.ts). */
const UPLOAD_ROUTE = /^\/v1\/(libraries\/[^/]+\/files|resources\/\d+\/file)$/;
/** Routes that stream their body themselves (file bytes): the JSON body cap does not read them. */
const STREAMED_ROUTE = /^\/v1\/(libraries\/[^/]+\/files|resources\/\d+\/file|libraries\/[^/]+\/tus(\/[^/]+)?)$/;

const KiB = 1024;
/** JSON bodies that may be larger (or must be smaller) than JSON_BODY_MAX_BYTES: lists, and what routes cap themselves. */
const BODY_LIMITS: [RegExp, number][] = [
  // 10,000 checksums (MAX_PREFLIGHT) of 64 hex digits, quoted, with commas.
  [/^POST \/v1\/checksums$/, 1024 * KiB],
  // 10,000 parts of a direct upload, each a number and an ETag.
  [/^POST \/v1\/direct-uploads\/[^/]+\/complete$/, 1024 * KiB],
  [/^PUT \/v1\/mappings$/, 256 * KiB],
  [/^POST \/v1\/(reprocess|resources\/[^/]+\/reprocess)$/, 16 * KiB],
];

/** Builds the HTTP app from its dependencies; never listens (tests and main decide that). */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const resources = new ResourceService(deps);
  const publicUrl = deps.publicUrl ?? deps.config.http.publicUrl;
  // Failed authentications of every kind, per client address (AUTH_FAILURES_PER_MINUTE).
  const throttle = new AuthThrottle(deps.redis, deps.config.redis.prefix, deps.config.auth.authFailuresPerMinute, deps.logger);
  const apiKeys = new ApiKeyStore(deps.redis, deps.config.redis.prefix);
  const keyAuth = apiKeyAuth(deps.config.auth.apiKeys, apiKeys);
  const adminGuard = adminAuth(deps.config.auth.adminKeys, throttle, publicUrl);

  app.use('*', requestId({ headerName: 'X-Request-Id', limitLength: 200 }));
  app.use('*', accessLog(deps.logger));
  app.use('*', connectionLimit(deps.config.http.maxConnectionsPerClient));
  app.use('*', requestDeadline(deps.config.http.requestTimeoutMs));
  app.use('*', expectContinue(UPLOAD_ROUTE));
  app.onError(errorHandler(deps.logger));
  app.notFound((c) => problemResponse(c, toProblem(new NotFoundError('route', `${c.req.method} ${c.req.path}`))));

  app.route('/', healthRoutes(deps));
  app.route('/', metricsRoutes());
  // Routes declared with schemas: validated by them, and the OpenAPI document at /docs.
  const documented = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.route('/', docsRoutes(documented, API_VERSION));
  // The web console's page and assets (no key: the page asks for one).
  app.route('/', consoleRoutes());
  // The queue dashboard and per-lane pause/resume/retry, behind ADMIN_KEYS (not API keys).
  app.route('/', queuesAdminRoutes(deps, adminGuard));
  // The compatibility faces: outside /v1, each authenticates as its system does.
  app.route('/', compatRoutes({ ...deps, publicUrl }, throttle));
  // Before the /v1 key check: images are embedded in pages; the route checks keys,
  // signatures and visibility itself.
  app.route('/', imagesRoutes({ ...deps, images: new ImageService(deps), keyAuth, throttle }));
  // Bucket notifications of external libraries: S3 servers cannot send API keys; the
  // route checks EXTERNAL_EVENTS_TOKEN (throttled and rate-limited) and caps its body itself.
  app.route('/', externalEventRoutes(deps, throttle));
  // Operator actions under /v1/admin (reindex, sweep, check, keys) take an admin key, like the
  // dashboard: an uploading client must not be able to delete objects or rebuild the catalog.
  const apiAuth = bearerAuth(keyAuth, throttle);
  app.use('/v1/admin/*', adminGuard);
  app.use('/v1/*', (c, next) => (c.req.path.startsWith('/v1/admin/') ? next() : apiAuth(c, next)));
  app.use('/v1/*', rateLimit(deps.redis, deps.config.redis.prefix, deps.config.auth.rateLimitPerMinute, deps.logger));
  // Only now, authenticated, is a body read: capped, and within REQUEST_TIMEOUT_MS.
  app.use('/v1/*', bodyLimit({ defaultMaxBytes: deps.config.http.jsonBodyMaxBytes, routes: BODY_LIMITS, streamed: STREAMED_ROUTE }));
  app.use('/v1/*', scope(deps));
  // The completion webhook of an upload (its own, or its library's), before the body.
  const libraryWebhooks = new LibraryWebhooks(deps.redis, deps.config.redis.prefix);
  const libraryWebhook = async (idOrName: string) => {
    const library = await deps.catalog.findLibrary(idOrName);
    return library ? libraryWebhooks.get(library.id) : undefined;
  };
  app.use('/v1/libraries/:library/files', webhookUrl(deps.config.webhooks.secret, deps.config.webhooks.allowPrivate, libraryWebhook));
  app.use('/v1/resources/:id/file', webhookUrl(deps.config.webhooks.secret, deps.config.webhooks.allowPrivate, libraryWebhook));
  app.route('/', filesRoutes(deps));
  app.route('/', tusRoutes(deps));
  app.route('/', adminRoutes(deps));
  app.route('/', apiKeysRoutes(deps, apiKeys));
  documented.route('/', librariesRoutes(deps));
  documented.route('/', checksumsRoutes(deps));
  documented.route('/', resourcesRoutes({ ...deps, resources }));
  documented.route('/', jobsRoutes(deps));
  documented.route('/', mappingsRoutes(deps));
  documented.route('/', reprocessRoutes(deps));
  documented.route('/', externalRoutes(deps));
  documented.route('/', queuesRoutes(deps));
  documented.route('/', whoamiRoutes(deps));
  documented.route('/', webhooksRoutes(deps));
  documented.route('/', directUploadsRoutes(deps));
  app.route('/', documented);
  return app;
}
