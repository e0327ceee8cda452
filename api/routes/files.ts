import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Hono, type Context } from 'hono';
import { DuplicateFileError, InvalidRequestError, NoFilePartError } from '../../shared/errors.js';
import type { TargetState } from '../../shared/jobs/job-waiter.js';
import type { ResourceRecord } from '../../shared/model.js';
import type { StagedFile } from '../../shared/services/upload-service.js';
import { parseDeclaredDigest } from '../../shared/upload/digest.js';
import { UploadFieldsBuilder } from '../../shared/upload/upload-fields.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { readMultipart } from '../upload/multipart.js';
import { releaseDeadline } from '../middleware/request-timeout.js';
import { requestedWaitSeconds, waitAndRespond } from '../wait.js';
import { parseId } from './resources.js';

/** Form fields that declare the SHA-256 of the next file part. */
const DIGEST_FIELDS = new Set(['sha256', 'digest', 'checksum']);

/** One file part's fate: stored as a new resource, or resolved to an existing one. */
type Entry = { kind: 'staged'; staged: StagedFile } | { kind: 'reused'; record: ResourceRecord };

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
    const waitSeconds = requestedWaitSeconds(c, config.waitMaxSeconds);
    const limit = library.maxUploadBytes ?? config.maxUploadBytes;
    const headerDigest = parseDeclaredDigest(c.req.header('repr-digest'), 'the Repr-Digest header');

    // Decided on the headers alone: the body has not been asked for yet.
    if (headerDigest && library.dedupe !== 'allow') {
      const existing = await uploads.findExisting(library, headerDigest);
      if (existing.length > 0) {
        c.header('Connection', 'close');
        if (library.dedupe === 'reject') throw new DuplicateFileError(existing.map((r) => r.id));
        return answer(c, deps, [{ record: existing[0]!, reused: true }], waitSeconds);
      }
    }

    const { body, headers } = requestBody(c);
    const entries: Entry[] = [];
    const staged: StagedFile[] = [];
    const fields = new UploadFieldsBuilder();
    const ac = new AbortController();
    let nextDigest: string | undefined;
    let parts = 0;
    try {
      await readMultipart(body, headers, { maxFiles: config.maxFilesPerRequest }, {
        field: (name, value) => {
          if (DIGEST_FIELDS.has(name)) nextDigest = parseDeclaredDigest(value, `the "${name}" field`);
          else fields.add(name, value);
        },
        file: async (file) => {
          const index = parts++;
          let declared = nextDigest;
          nextDigest = undefined;
          if (headerDigest) {
            if (index > 0) {
              throw new InvalidRequestError('Repr-Digest declares the digest of one file, but this request has several file parts; declare each with a "sha256" field before its part.');
            }
            declared = headerDigest;
          }
          if (declared && library.dedupe !== 'allow') {
            const existing = await uploads.findExisting(library, declared);
            if (existing.length > 0) {
              if (library.dedupe === 'reject') throw new DuplicateFileError(existing.map((r) => r.id));
              // reuse: the bytes are not needed; skip past them.
              file.stream.resume();
              await new Promise((resolve) => file.stream.once('close', resolve));
              entries[index] = { kind: 'reused', record: existing[0]! };
              return;
            }
          }
          const s = await uploads.stage(file, limit, ac.signal);
          staged.push(s);
          if (s.size === 0) throw new InvalidRequestError(`The file part "${s.fileName}" is empty (0 bytes); send the file's content.`);
          if (declared && declared !== s.checksum) {
            throw new InvalidRequestError(
              `The declared SHA-256 of "${s.fileName}" (${declared}) does not match its bytes (${s.checksum}); the file was not stored.`,
              { declared, actual: s.checksum },
            );
          }
          entries[index] = { kind: 'staged', staged: s };
        },
      });
      if (entries.length === 0) throw new NoFilePartError();
    } catch (err) {
      ac.abort();
      await uploads.discard(staged);
      // The rest of the body is not read: close the connection after answering rather
      // than draining what may be gigabytes.
      c.header('Connection', 'close');
      throw err;
    }

    const records = new Map((await uploads.commit(staged, fields.build(), library, 'upload')).map((r) => [r.id, r]));
    const items = entries.map((e) => (e.kind === 'staged' ? { record: records.get(e.staged.id)!, reused: false } : { record: e.record, reused: true }));
    return answer(c, deps, items, waitSeconds);
  });

  /** Replace the file of an existing resource: one file part (`no_exif`, `sha256` fields honoured). */
  app.put('/v1/resources/:id/file', async (c) => {
    releaseDeadline(c);
    const { config, uploads } = deps;
    const current = await deps.catalog.requireResource(parseId(c.req.param('id')));
    c.header('X-Resource-Id', String(current.id));
    const library = await deps.catalog.getLibrary(current.library);
    const waitSeconds = requestedWaitSeconds(c, config.waitMaxSeconds);
    const headerDigest = parseDeclaredDigest(c.req.header('repr-digest'), 'the Repr-Digest header');
    const { body, headers } = requestBody(c);
    const fields = new UploadFieldsBuilder();
    const ac = new AbortController();
    let declared = headerDigest;
    let staged: StagedFile | undefined;
    try {
      await readMultipart(body, headers, { maxFiles: 1 }, {
        field: (name, value) => {
          if (DIGEST_FIELDS.has(name)) declared = parseDeclaredDigest(value, `the "${name}" field`);
          else fields.add(name, value);
        },
        file: async (file) => {
          staged = await uploads.stage(file, library.maxUploadBytes ?? config.maxUploadBytes, ac.signal, current);
          if (staged.size === 0) throw new InvalidRequestError(`The file part "${staged.fileName}" is empty (0 bytes); send the file's content.`);
          if (declared && declared !== staged.checksum) {
            throw new InvalidRequestError(`The declared SHA-256 (${declared}) does not match the file's bytes (${staged.checksum}); the file was not stored.`);
          }
        },
      });
      if (!staged) throw new NoFilePartError();
    } catch (err) {
      ac.abort();
      if (staged) await uploads.discard([staged]);
      c.header('Connection', 'close');
      throw err;
    }
    const s: StagedFile = staged;
    const next = await uploads.replace(current, s, fields.build().noExif).catch(async (err: unknown) => {
      await uploads.discard([s]);
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
  return waitAndRespond(c, deps.waiter, items.map((i) => targetOf(i.record)), waitSeconds, view);
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

/**
 * The raw request stream: Node's own when served by @hono/node-server, else the Web
 * body. Asking for it is what sends `100 Continue` to a client that expects one.
 */
export function requestBody(c: Context): { body: Readable; headers: IncomingHttpHeaders } {
  const env = c.env as { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;
  const incoming = env?.incoming;
  if (incoming) {
    if (/100-continue/i.test(incoming.headers.expect ?? '') && env.outgoing && !env.outgoing.headersSent) env.outgoing.writeContinue();
    return { body: incoming, headers: incoming.headers };
  }
  const headers: IncomingHttpHeaders = {};
  c.req.raw.headers.forEach((v, k) => (headers[k] = v));
  const web = c.req.raw.body;
  const body = web ? Readable.fromWeb(web as WebReadableStream) : Readable.from([]);
  return { body, headers };
}
