import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { IncomingHttpHeaders } from 'node:http';
import type { Context } from 'hono';
import { AppError, ClientAbortedError, InvalidRequestError, NoFilePartError } from '../../shared/errors.js';
import type { ResourceRecord } from '../../shared/model.js';
import type { IncomingFile, StagedFile, UploadService } from '../../shared/services/upload-service.js';
import { nodeIo } from '../deps.js';
import { releaseDeadline } from '../middleware/request-timeout.js';
import { readMultipart } from './multipart.js';

/**
 * The one way a request's file bytes enter the service, whatever face they came
 * through (native POST/PUT, ResourceSpace, Flotiq, Copernica, IBM Connections): the
 * transport (a multipart body, or the raw body) becomes an `IncomingFile` that
 * `UploadService.stage` streams into storage (limit, hash, sniff). On any failure what
 * was stored is discarded and the connection is closed after the answer, rather than
 * draining a body that may be gigabytes. A route reads its face's fields and renders
 * its face's answer; it commits what it receives here through the same service.
 */

/** How to take one file part, decided before its bytes are read. */
export type PartPlan =
  /** The part resolves to an existing resource: its bytes are skipped, not stored. */
  | { reuse: ResourceRecord }
  /** The SHA-256 the part's bytes must have (a declared digest). */
  | { sha256: string };

/** One file part's fate, in part order. */
export type ReceivedPart = { kind: 'staged'; staged: StagedFile } | { kind: 'reused'; record: ResourceRecord };

export interface IntakeOptions {
  /** Largest file part, bytes (may be raised by `beforeFile` once it knows the library). */
  limit: number;
  maxFiles: number;
  /** Longest text field. @defaultValue 64 KiB */
  maxFieldBytes?: number;
  /** Each text field, in order; throw to refuse the request. */
  field?(name: string, value: string): void;
  /**
   * Called before a file part's bytes are stored: a face checks a credential sent in the
   * fields before it, the native route a declared digest. Throw to refuse the request.
   */
  beforeFile?(file: IncomingFile, index: number, fieldName: string): PartPlan | void | Promise<PartPlan | void>;
  /** The resource whose file the (single) part replaces. */
  replacing?: ResourceRecord;
}

/** Every file part of a multipart body, staged (or resolved to an existing resource), in part order. */
export async function receiveParts(c: Context, uploads: UploadService, opts: IntakeOptions): Promise<ReceivedPart[]> {
  const { body, headers } = requestBody(c);
  const parts: ReceivedPart[] = [];
  const staged: StagedFile[] = [];
  const ac = new AbortController();
  let count = 0;
  try {
    await readMultipart(
      body,
      headers,
      { maxFiles: opts.maxFiles, ...(opts.maxFieldBytes ? { maxFieldBytes: opts.maxFieldBytes } : {}) },
      {
        field: (name, value) => opts.field?.(name, value),
        file: async (file, fieldName) => {
          const index = count++;
          // Awaited only when it must be: a part is best handed to `stage` at once, before
          // its stream can fail or end with no one listening.
          const planned = opts.beforeFile?.(file, index, fieldName);
          const plan = (planned instanceof Promise ? await planned : planned) ?? undefined;
          if (plan && 'reuse' in plan) {
            file.stream.resume();
            await new Promise((resolve) => file.stream.once('close', resolve));
            parts[index] = { kind: 'reused', record: plan.reuse };
            return;
          }
          // Authenticated now (the face checked its credential before, or in beforeFile):
          // the file may take as long as it takes, idle timeout aside.
          releaseDeadline(c);
          const s = await uploads.stage(file, opts.limit, ac.signal, opts.replacing);
          staged.push(s);
          checkStaged(s, plan?.sha256);
          parts[index] = { kind: 'staged', staged: s };
        },
      },
    );
    return parts;
  } catch (err) {
    ac.abort();
    await uploads.discard(staged);
    c.header('Connection', 'close');
    throw abortedOr(body, err);
  }
}

/** The staged file parts of a multipart body (a face that resolves no part to an existing resource). */
export async function receiveMultipart(c: Context, uploads: UploadService, opts: IntakeOptions): Promise<StagedFile[]> {
  return (await receiveParts(c, uploads, opts)).flatMap((p) => (p.kind === 'staged' ? [p.staged] : []));
}

/** A raw (non-multipart) request body as one file: IBM Connections sends the bytes as the body. */
export async function receiveBody(
  c: Context,
  uploads: UploadService,
  file: Omit<IncomingFile, 'stream'>,
  limit: number,
): Promise<StagedFile> {
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
 * The raw request stream: Node's own when served by @hono/node-server, else the Web
 * body. Asking for it is what sends `100 Continue` to a client that expects one.
 */
export function requestBody(c: Context): { body: Readable; headers: IncomingHttpHeaders } {
  const { incoming, outgoing } = nodeIo(c);
  if (incoming) {
    if (/100-continue/i.test(incoming.headers.expect ?? '') && outgoing && !outgoing.headersSent) outgoing.writeContinue();
    return { body: incoming, headers: incoming.headers };
  }
  const headers: IncomingHttpHeaders = {};
  c.req.raw.headers.forEach((v, k) => (headers[k] = v));
  const web = c.req.raw.body;
  const body = web ? Readable.fromWeb(web as WebReadableStream) : Readable.from([]);
  return { body, headers };
}

/** An empty part, or bytes that are not the declared ones, are refused (and discarded by the caller). */
function checkStaged(s: StagedFile, declared: string | undefined): void {
  if (s.size === 0) throw new InvalidRequestError(`The file part "${s.fileName}" is empty (0 bytes); send the file's content.`);
  if (declared && declared !== s.checksum) {
    throw new InvalidRequestError(
      `The declared SHA-256 of "${s.fileName}" (${declared}) does not match its bytes (${s.checksum}); the file was not stored.`,
      { declared, actual: s.checksum },
    );
  }
}

/**
 * A client that hangs up mid-body makes the stream fail with a bare Node error
 * ("aborted", ECONNRESET): that is the client's doing (400, not logged as a failure),
 * not a 500 of ours.
 */
function abortedOr(body: Readable, err: unknown): unknown {
  if (err instanceof AppError) return err;
  // Only the client's hang-up: a body left unread because Redis or the store failed
  // under it is ours (503 for an outage), not the client's.
  const incoming = body as Readable & { aborted?: boolean };
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const hungUp =
    incoming.aborted === true ||
    code === 'ECONNRESET' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    (err instanceof Error && err.message === 'aborted');
  return hungUp ? new ClientAbortedError() : err;
}
