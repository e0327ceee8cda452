import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { UnauthorizedError, NoFilePartError, type ErrorCode } from '../../shared/errors.js';
import type { StagedFile } from '../../shared/services/upload-service.js';
import { UploadFieldsBuilder } from '../../shared/upload/upload-fields.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { STATUS_BY_CODE, toProblem } from '../error-handler.js';
import type { AuthThrottle } from '../middleware/auth-throttle.js';
import { Confinement } from './confine.js';
import { receiveMultipart } from '../upload/intake.js';
import { findCredential } from './secrets.js';
import { settle } from './settle.js';

const SOURCE = 'copernica';

/**
 * The one table from our error codes to Copernica's statuses; codes not listed keep
 * the native status. Copernica's REST API answers errors as `{"error":{"message"}}`.
 */
const STATUS: Partial<Record<ErrorCode, ContentfulStatusCode>> = {
  unauthorized: 401,
  // A file already in the media library is a conflict here (the native 400 is ResourceSpace's).
  duplicate: 409,
};

/**
 * Copernica's media-library upload, `POST /v3/medialibrary/{idOrName}/files?access_token=…`:
 * multipart with any field names, one resource per file part. The part's content type
 * decides image vs file handling, as Copernica documents: a part not sent as `image/*`
 * is stored and processed as a plain file (no dimensions, no renditions) even if its
 * bytes are an image; one sent as `image/*` gets image processing when its bytes are
 * one. No body: the new ids are in `X-Created` (and `X-Resource-Id`). A token writes
 * only into its libraries (COPERNICA_TOKENS `token@lib|lib…`); any other answers 404 as
 * a library that does not exist.
 */
export function copernicaRoutes(deps: AppDeps, throttle: AuthThrottle) {
  const app = new Hono<AppEnv>();

  app.post('/v3/medialibrary/:library/files', async (c) => {
    try {
      const token = await throttle.guard(c, () => {
        const found = findCredential(deps.config.compat.copernicaTokens, c.req.query('access_token') ?? '');
        if (!found) throw new UnauthorizedError('Invalid access token');
        return found;
      });
      const library = await new Confinement(deps.catalog, token.libraries).library(c.req.param('library'));
      const fields = new UploadFieldsBuilder();
      const staged = await receiveMultipart(c, deps.uploads, {
        limit: deps.uploads.limitOf(library),
        maxFiles: deps.config.uploads.maxFilesPerRequest,
        // Only the native field names mean something; Copernica's own form carries none.
        field: (name, value) => fields.add(name, value),
      });
      if (staged.length === 0) throw new NoFilePartError();
      const records = await deps.uploads.commit(staged.map(byDeclaredType), fields.build(), library, SOURCE);
      c.header('X-Resource-Id', records.map((r) => r.id).join(','));
      const done = await settle(c, deps, records, deps.config.uploads.waitMaxSeconds);
      const ids = done.ids.join(',');
      c.header('X-Resource-Id', ids);
      c.header('X-Created', ids);
      return c.body(null, 201);
    } catch (err) {
      return renderError(c, deps, err);
    }
  });

  return app;
}

/** Image handling only for parts declared as images (and that are images). */
function byDeclaredType(s: StagedFile): StagedFile {
  const declaredImage = /^image\//i.test(s.declaredType ?? '');
  return declaredImage || s.sniffed.type !== 'image' ? s : { ...s, sniffed: { ...s.sniffed, type: 'file' } };
}

function renderError(c: Context, deps: AppDeps, err: unknown): Response {
  const p = toProblem(err);
  const status = STATUS[p.code] ?? STATUS_BY_CODE[p.code] ?? 500;
  if (status >= 500) deps.logger.error({ err, requestId: c.get('requestId'), path: c.req.path }, 'copernica request failed');
  const message = status >= 500 && p.code === 'internal' ? 'Internal server error' : p.detail;
  return c.json({ error: { message } }, status);
}
