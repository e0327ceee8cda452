import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { ClientAbortedError, InvalidRequestError, MalformedMultipartError, UnsupportedMediaTypeError } from '../../shared/errors.js';
import { sanitizeFileName } from '../../shared/upload/file-name.js';
import type { IncomingFile } from '../../shared/services/upload-service.js';
import { STREAM_BUFFER_BYTES } from '../../shared/upload/inspect-stream.js';

/** busboy's buffers: the parser's input and each file part's output (see STREAM_BUFFER_BYTES). */
export const BUSBOY_BUFFERS = { highWaterMark: STREAM_BUFFER_BYTES, fileHwm: STREAM_BUFFER_BYTES } as const;

export interface MultipartLimits {
  maxFiles: number;
  /** Longest accepted text field value. @defaultValue 64 KiB */
  maxFieldBytes?: number;
  /** Most text fields. @defaultValue 1000 */
  maxFields?: number;
}

export interface MultipartHandlers {
  /** Called in order for each text field; throw to abort the request. */
  field(name: string, value: string): void;
  /** Called for each file part; must consume `file.stream`. Runs while later parts arrive. */
  file(file: IncomingFile, fieldName: string): Promise<void>;
}

/**
 * Streams a multipart/form-data body through busboy — never buffering a file part —
 * and settles once every part was handled. The first error (malformed body, a limit,
 * a handler failure, the client going away) stops the parse, destroys the part being
 * read and rejects; the caller then discards whatever it had stored.
 */
export function readMultipart(
  body: Readable,
  headers: IncomingHttpHeaders,
  limits: MultipartLimits,
  handlers: MultipartHandlers,
): Promise<void> {
  const type = headers['content-type'];
  if (!type || !/^multipart\/form-data\s*;/i.test(type)) {
    return Promise.reject(new UnsupportedMediaTypeError('multipart/form-data', type));
  }
  return new Promise<void>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers,
        ...BUSBOY_BUFFERS,
        // Clients send UTF-8 file names; busboy's default would read them as Latin-1.
        defParamCharset: 'utf8',
        limits: {
          files: limits.maxFiles,
          fields: limits.maxFields ?? 1000,
          fieldSize: limits.maxFieldBytes ?? 64 * 1024,
          parts: limits.maxFiles + (limits.maxFields ?? 1000),
          headerPairs: 100,
        },
      });
    } catch (err) {
      reject(new MalformedMultipartError((err as Error).message));
      return;
    }

    const pending: Promise<void>[] = [];
    const active = new Set<Readable>();
    let settled = false;

    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      body.unpipe(bb);
      for (const s of active) s.destroy(err as Error);
      bb.removeAllListeners();
      bb.on('error', () => undefined);
      bb.destroy();
      // Let in-flight handlers finish their cleanup before the caller discards.
      void Promise.allSettled(pending).then(() => reject(err));
    };

    bb.on('file', (fieldName, stream, info) => {
      if (settled) {
        stream.resume();
        return;
      }
      // Errors reach the handler through its pipeline; this listener only keeps an error
      // emitted before the handler attached its own from becoming an uncaught exception.
      stream.on('error', () => undefined);
      active.add(stream);
      stream.once('end', () => active.delete(stream));
      stream.once('close', () => active.delete(stream));
      const file: IncomingFile = {
        fileName: sanitizeFileName(info.filename),
        declaredType: info.mimeType && info.mimeType !== 'application/octet-stream' ? info.mimeType.slice(0, 200) : null,
        stream,
      };
      const p = handlers.file(file, fieldName).catch((err: unknown) => {
        fail(err);
        throw err;
      });
      // Its rejection reaches the caller through fail() above; this only keeps it from being unhandled.
      p.catch(() => undefined);
      pending.push(p);
    });
    bb.on('field', (name, value, info) => {
      if (settled) return;
      if (info.valueTruncated) {
        fail(new InvalidRequestError(`Expected field "${name.slice(0, 40)}" to be at most ${limits.maxFieldBytes ?? 65536} bytes.`));
        return;
      }
      try {
        handlers.field(name, value);
      } catch (err) {
        fail(err);
      }
    });
    bb.on('filesLimit', () =>
      fail(new InvalidRequestError(`Expected at most ${limits.maxFiles} file parts in one request; send the rest in another.`)),
    );
    bb.on('fieldsLimit', () => fail(new InvalidRequestError(`Expected at most ${limits.maxFields ?? 1000} form fields in one request.`)));
    bb.on('partsLimit', () => fail(new InvalidRequestError('The request has too many parts.')));
    bb.on('error', (err) => fail(new MalformedMultipartError((err as Error).message, { cause: err })));
    bb.on('close', () => {
      if (settled) return;
      Promise.all(pending).then(
        () => {
          settled = true;
          resolve();
        },
        (err: unknown) => fail(err),
      );
    });

    body.on('error', () => fail(new ClientAbortedError()));
    body.on('close', () => {
      // 'close' before the body was complete: the client went away mid-upload.
      if (!(body as Readable & { complete?: boolean }).complete && !body.readableEnded) fail(new ClientAbortedError());
    });
    body.on('aborted', () => fail(new ClientAbortedError()));
    body.pipe(bb);
  });
}
