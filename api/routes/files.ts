import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import { InvalidRequestError, NoFilePartError } from '../../shared/errors.js';
import type { ResourceRecord } from '../../shared/model.js';
import type { StagedFile } from '../../shared/services/upload-service.js';
import { UploadFieldsBuilder } from '../../shared/upload/upload-fields.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { readMultipart } from '../upload/multipart.js';
import { requestedWaitSeconds, waitAndRespond } from '../wait.js';

/** `POST /v1/libraries/{idOrName}/files` — streaming multipart upload of one or more files. */
export function filesRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  app.post('/v1/libraries/:library/files', async (c) => {
    const { config, catalog, uploads, waiter } = deps;
    const library = await catalog.getLibrary(c.req.param('library'));
    const waitSeconds = requestedWaitSeconds(c, config.waitMaxSeconds);
    const limit = library.maxUploadBytes ?? config.maxUploadBytes;
    const { body, headers } = requestBody(c);

    const staged: StagedFile[] = [];
    const fields = new UploadFieldsBuilder();
    const ac = new AbortController();
    try {
      await readMultipart(body, headers, { maxFiles: config.maxFilesPerRequest }, {
        field: (name, value) => fields.add(name, value),
        file: async (file) => {
          const s = await uploads.stage(file, limit, ac.signal);
          staged.push(s);
          if (s.size === 0) throw new InvalidRequestError(`The file part "${s.fileName}" is empty (0 bytes); send the file's content.`);
        },
      });
      if (staged.length === 0) throw new NoFilePartError();
    } catch (err) {
      ac.abort();
      await uploads.discard(staged);
      // The rest of the body is not read: close the connection after answering rather
      // than draining what may be gigabytes.
      c.header('Connection', 'close');
      throw err;
    }

    // Parts are staged in arrival order; keep it for ids in the answer.
    staged.sort((a, b) => a.id - b.id);
    const records = await uploads.commit(staged, fields.build(), library, 'upload');
    c.header('X-Resource-Id', records.map((r) => r.id).join(','));
    c.header('Location', `/v1/jobs/${records[0]!.jobId}`);

    const accepted = (current: (ResourceRecord | undefined)[]) =>
      c.json({ resources: records.map((r, i) => acceptedView(current[i] ?? r)) }, 202);
    if (waitSeconds === undefined || waitSeconds === 0) return accepted(records);
    return waitAndRespond(c, waiter, records.map(targetOf), waitSeconds, accepted);
  });

  return app;
}

function targetOf(r: ResourceRecord) {
  return { resourceId: r.id, fileVersion: r.fileVersion, jobId: r.jobId };
}

function acceptedView(r: ResourceRecord) {
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
    ...(r.status === 'failed' ? { error: r.error } : {}),
    links: { resource: `/v1/resources/${r.id}`, job: `/v1/jobs/${r.jobId}` },
  };
}

/** The raw request stream: Node's own when served by @hono/node-server, else the Web body. */
export function requestBody(c: Context): { body: Readable; headers: IncomingHttpHeaders } {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming) return { body: incoming, headers: incoming.headers };
  const headers: IncomingHttpHeaders = {};
  c.req.raw.headers.forEach((v, k) => (headers[k] = v));
  const web = c.req.raw.body;
  const body = web ? Readable.fromWeb(web as WebReadableStream) : Readable.from([]);
  return { body, headers };
}
