import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppDeps, AppEnv } from '../deps.js';
import { isAdminCredential } from '../middleware/admin-auth.js';
import { validationHook } from '../validation.js';

const get = createRoute({
  method: 'get',
  path: '/v1/whoami',
  tags: ['keys'],
  summary: 'What the key sending this request may do',
  description:
    '`admin`: the key is also an admin key (ADMIN_KEYS), which opens `/admin/*` and `/v1/admin/*`. Answers 200 either way, so a page can ask without provoking an error.',
  security: [{ bearer: [] }],
  responses: { 200: { description: 'The key', content: { 'application/json': { schema: z.object({ admin: z.boolean() }) } } } },
});

/** `GET /v1/whoami`: lets the web console show admin features only to admin keys. */
export function whoamiRoutes(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // The key the request was authenticated with (Bearer auth ran before this route) is an
  // admin key too when ADMIN_KEYS lists it.
  const isAdmin = isAdminCredential(deps.config.auth.adminKeys);
  app.openapi(get, async (c) => {
    const ok = isAdmin(c.req.header('authorization') ?? '');
    return c.json({ admin: ok }, 200);
  });
  return app;
}
