import type { Context } from 'hono';
import type { Readable } from 'node:stream';
import { AppError, ClientAbortedError, InvalidRequestError, NoFilePartError, PayloadTooLargeError } from '../../shared/errors.js';
import type { ResourceRecord } from '../../shared/model.js';
import { releaseDeadline } from '../middleware/request-timeout.js';
import type { IncomingFile, StagedFile, UploadService } from '../../shared/services/upload-service.js';
import { requestBody } from '../routes/files.js';
import { readMultipart } from '../upload/multipart.js';

export interface ReceiveOptions {
  /** Largest file part, bytes. */
  limit: number;
  maxFiles: number;
  /** Longest text field. @defaultValue 64 KiB */
  maxFieldBytes?: number;
  /** Each text field, in order; throw to refuse the request. */
  field?(name: string, value: string): void;
  /** Called before a file part's bytes are stored (e.g. to check a signature sent in the fields before it). */
  beforeFile?(file: IncomingFile, fieldName: string): void | Promise<void>;
  /** The resource whose file the (single) part replaces. */
  replacing?: ResourceRecord;
}

/**
 * A compat face's multipart body into storage, through the same streaming path as the
 * native upload (`UploadService.stage`: limit, hash, sniff). On any failure whatever was
 * stored is discarded and the connection is closed after the answer, rather than
 * draining a body that may be gigabytes.
 */
export async function receiveMultipart(c: Context, uploads: UploadService, opts: ReceiveOptions): Promise<StagedFile[]> {
  const { body, headers } = requestBody(c);
  const staged: StagedFile[] = [];
  const ac = new AbortController();
  try {
    await readMultipart(body, headers, { maxFiles: opts.maxFiles, ...(opts.maxFieldBytes ? { maxFieldBytes: opts.maxFieldBytes } : {}) }, {
      field: (name, value) => opts.field?.(name, value),
      file: async (file, fieldName) => {
        await opts.beforeFile?.(file, fieldName);
        // Authenticated now (the face checked its credential before, or in beforeFile):
        // the file may take as long as it takes, idle timeout aside.
        releaseDeadline(c);
        const s = await uploads.stage(file, opts.limit, ac.signal, opts.replacing);
        staged.push(s);
        if (s.size === 0) throw new InvalidRequestError(`The file part "${s.fileName}" is empty (0 bytes); send the file's content.`);
      },
    });
    return staged;
  } catch (err) {
    ac.abort();
    await uploads.discard(staged);
    c.header('Connection', 'close');
    throw abortedOr(body, err);
  }
}

/** A raw (non-multipart) request body as one file: IBM Connections sends the bytes as the body. */
export async function receiveBody(c: Context, uploads: UploadService, file: { fileName: string; declaredType: string | null }, limit: number): Promise<StagedFile> {
  const { body } = requestBody(c);
  releaseDeadline(c);
  const ac = new AbortController();
  let staged: StagedFile | undefined;
  try {
    staged = await uploads.stage({ ...file, stream: body }, limit, ac.signal);
    if (staged.size === 0) throw new NoFilePartError();
    return staged;
  } catch (err) {
    ac.abort();
    if (staged) await uploads.discard([staged]);
    c.header('Connection', 'close');
    throw abortedOr(body, err);
  }
}

/**
 * A client that hangs up mid-body makes the stream fail with a bare Node error
 * ("aborted", ECONNRESET): that is the client's doing (400, not logged as a failure),
 * not a 500 of ours.
 */
function abortedOr(body: Readable, err: unknown): unknown {
  if (err instanceof AppError) return err;
  const incoming = body as Readable & { complete?: boolean };
  return incoming.complete === false || body.destroyed ? new ClientAbortedError() : err;
}

/** A small non-file body (a url-encoded form, an Atom entry), counted while read whatever Content-Length says. */
export async function readSmallText(c: Context, maxBytes: number): Promise<string> {
  const body = c.req.raw.body;
  if (!body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      c.header('Connection', 'close');
      throw new PayloadTooLargeError(maxBytes, 'request body');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
