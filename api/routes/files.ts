import { Hono, type Context } from 'hono';
import { DuplicateFileError, InvalidRequestError, NoFilePartError } from '../../shared/errors.js';
import type { TargetState } from '../../shared/jobs/job-waiter.js';
import type { ResourceRecord } from '../../shared/model.js';
import { parseDeclaredDigest } from '../../shared/upload/digest.js';
import { UploadFieldsBuilder } from '../../shared/upload/upload-fields.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { receiveMultipart, receiveParts } from '../upload/intake.js';
import { releaseDeadline } from '../middleware/request-timeout.js';
import { requestedWaitSeconds, waitAndRespond } from '../wait.js';
import { parseId } from './resources.js';

/** Form fields that declare the SHA-256 of the next file part. */
const DIGEST_FIELDS = new Set(['sha256', 'digest', 'checksum']);

/**
 * `POST /v1/libraries/{idOrName}/files` — streaming multipart upload of one or more files.
 *
 * A client that declares a file's SHA-256 up front (`Repr-Digest` for a one-file
 * upload, or a `sha256` field before each file part) learns that it is a duplicate
 * before sending the bytes: with `Expect: 100-continue` the answer comes before the
 * body. A declared digest that does not match the bytes is refused.
 */
export function filesRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  app.post('/v1/libraries/:library/files', async (c) => {
    // Authenticated: the file may take as long as it takes (idle timeout aside).
    releaseDeadline(c);
    // Every upload answer carries it (a fixed name: docs/api.md, "Names that are fixed") — empty when nothing was created.
    c.header('X-Resource-Id', '');
    const { config, uploads } = deps;
    const library = await deps.catalog.getLibrary(c.req.param('library'));
    const waitSeconds = requestedWaitSeconds(c, config.uploads.waitMaxSeconds);
    const headerDigest = parseDeclaredDigest(c.req.header('repr-digest'), 'the Repr-Digest header');
    /** The existing resource a declared digest resolves the file to (reuse), or a 409 (reject); undefined: store it. */
    const existingFor = async (sha: string) => {
      if (library.dedupe === 'allow') return undefined;
      const existing = await uploads.findExisting(library, sha);
      if (existing.length === 0) return undefined;
      if (library.dedupe === 'reject') throw new DuplicateFileError(existing.map((r) => r.id));
      return existing[0]!;
    };

    // Decided on the headers alone: the body has not been asked for yet.
    if (headerDigest) {
      const existing = await existingFor(headerDigest).catch((err: unknown) => {
        c.header('Connection', 'close');
        throw err;
      });
      if (existing) {
        c.header('Connection', 'close');
        return answer(c, deps, [{ record: existing, reused: true }], waitSeconds);
      }
    }

    const fields = new UploadFieldsBuilder();
    let nextDigest: string | undefined;
    const parts = await receiveParts(c, uploads, {
      limit: uploads.limitOf(library),
      maxFiles: config.uploads.maxFilesPerRequest,
      field: (name, value) => {
        if (DIGEST_FIELDS.has(name)) nextDigest = parseDeclaredDigest(value, `the "${name}" field`);
        else fields.add(name, value);
      },
      beforeFile: (_file, index) => {
        let declared = nextDigest;
        nextDigest = undefined;
        if (headerDigest) {
          if (index > 0) {
            throw new InvalidRequestError(
              'Repr-Digest declares the digest of one file, but this request has several file parts; declare each with a "sha256" field before its part.',
            );
          }
          declared = headerDigest;
        }
        if (!declared) return;
        const sha256 = declared;
        return existingFor(sha256).then((existing) => (existing ? { reuse: existing } : { sha256 }));
      },
    });
    const staged = parts.flatMap((p) => (p.kind === 'staged' ? [p.staged] : []));
    if (parts.length === 0) throw new NoFilePartError();
    const records = new Map((await uploads.commit(staged, fields.build(), library, 'upload')).map((r) => [r.id, r]));
    const items = parts.map((p) =>
      p.kind === 'staged' ? { record: records.get(p.staged.id)!, reused: false } : { record: p.record, reused: true },
    );
    return answer(c, deps, items, waitSeconds);
  });

  /** Replace the file of an existing resource: one file part (`no_exif`, `sha256` fields honoured). */
  app.put('/v1/resources/:id/file', async (c) => {
    releaseDeadline(c);
    const { config, uploads } = deps;
    const current = await deps.catalog.requireResource(parseId(c.req.param('id')));
    c.header('X-Resource-Id', String(current.id));
    const library = await deps.catalog.getLibrary(current.library);
    const waitSeconds = requestedWaitSeconds(c, config.uploads.waitMaxSeconds);
    let declared = parseDeclaredDigest(c.req.header('repr-digest'), 'the Repr-Digest header');
    const fields = new UploadFieldsBuilder();
    const [staged] = await receiveMultipart(c, uploads, {
      limit: uploads.limitOf(library),
      maxFiles: 1,
      replacing: current,
      field: (name, value) => {
        if (DIGEST_FIELDS.has(name)) declared = parseDeclaredDigest(value, `the "${name}" field`);
        else fields.add(name, value);
      },
      beforeFile: () => (declared ? { sha256: declared } : undefined),
    });
    if (!staged) throw new NoFilePartError();
    const next = await uploads.replace(current, staged, fields.build().noExif).catch(async (err: unknown) => {
      await uploads.discard([staged]);
      throw err;
    });
    return answer(c, deps, [{ record: next, reused: false }], waitSeconds);
  });

  return app;
}

/**
 * 202 with the resources in part order (200 when every part resolved to an existing
 * resource), or — with `wait` — 204 once all are processed.
 */
async function answer(c: Context, deps: AppDeps, items: { record: ResourceRecord; reused: boolean }[], waitSeconds: number | undefined) {
  c.header('X-Resource-Id', items.map((i) => i.record.id).join(','));
  const firstNew = items.find((i) => !i.reused);
  if (firstNew) c.header('Location', `/v1/jobs/${firstNew.record.jobId}`);
  const view = (states?: TargetState[]) =>
    c.json({ resources: items.map((it, i) => acceptedView(states?.[i]?.record ?? it.record, it.reused)) }, firstNew ? 202 : 200);
  if (waitSeconds === undefined || waitSeconds === 0) return view();
  return waitAndRespond(
    c,
    deps.waiter,
    items.map((i) => targetOf(i.record)),
    waitSeconds,
    view,
  );
}

function targetOf(r: ResourceRecord) {
  return { resourceId: r.id, fileVersion: r.fileVersion, jobId: r.jobId };
}

function acceptedView(r: ResourceRecord, reused: boolean) {
  return {
    id: r.id,
    jobId: r.jobId,
    status: r.status,
    library: r.library,
    fileName: r.fileName,
    size: r.size,
    checksum: r.checksum,
    mimeType: r.mimeType,
    type: r.type,
    ...(reused ? { reused: true } : {}),
    ...(r.status === 'failed' ? { error: r.error } : {}),
    links: { resource: `/v1/resources/${r.id}`, job: `/v1/jobs/${r.jobId}` },
  };
}
