import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Catalog } from '../catalog/catalog.js';
import type { Config } from '../config.js';
import { AppError, InvalidRequestError, NotFoundError, UnauthorizedError, type ErrorCode } from '../errors.js';
import type { RenderWaiter } from '../jobs/render-waiter.js';
import { hasRenditions } from '../media/media-types.js';
import type { ResourceRecord } from '../model.js';
import { ACTIVE_CONTENT_MIME } from '../renditions/formats.js';
import { effectivePresets, extensionOfFormat, formatOfExtension } from '../renditions/presets.js';
import { checkImageSignature } from '../renditions/signing.js';
import { renditionKey } from '../storage/layout.js';
import { ObjectNotFoundError, type ObjectInfo, type ObjectStore } from '../storage/object-store.js';

export interface ImageRequest {
  width: number;
  height: number;
  id: number;
  extension: string;
  /** The path as signed: `/image/{w}x{h}/{id}.{ext}`. */
  path: string;
  exp?: string | undefined;
  sig?: string | undefined;
  /** The request carried a valid API key. */
  apiKey: boolean;
  /** A scoped key's libraries: the key opens private resources of these only. @defaultValue every library */
  apiKeyLibraries?: readonly number[] | undefined;
}

/** What to send: an object in storage and how to present it. */
export interface ImageObject {
  key: string;
  info: ObjectInfo;
  contentType: string;
  etag: string;
  /** Only public resources may be kept by shared caches. */
  public: boolean;
  /** Set for originals a browser must download rather than display or execute. */
  attachment: string | undefined;
  record: ResourceRecord;
  /**
   * The object's bytes, already requested with its size (S3: one GET, no HEAD before it).
   * Whoever holds the ImageObject sends them or drops them.
   */
  body?: Readable;
}

/**
 * `/image/{w}x{h}/{id}.{ext}` without HTTP: who may see what, which object answers it,
 * and rendering it on demand when it is not stored yet. The API streams the object;
 * nothing here decodes an image (the worker does, through the render job).
 */
export class ImageService {
  /**
   * A one-second memory of records and object sizes. Image URLs are fetched in bursts
   * (a page of thumbnails, a CDN revalidating); within a second the answer is the same,
   * and skipping Redis and a stat per hit is what lets the API serve a stored rendition
   * nearly as fast as a static-file server. A change of visibility, a delete or a
   * re-render shows after at most this long — far less than the Cache-Control we send.
   */
  private readonly records = new TtlCache<ResourceRecord | undefined>(1_000, 5_000);
  private readonly objects = new TtlCache<ObjectInfo | undefined>(1_000, 5_000);

  constructor(private readonly deps: { config: Config; catalog: Catalog; store: ObjectStore; renders: RenderWaiter }) {}

  async resolve(req: ImageRequest): Promise<ImageObject> {
    const { config, catalog } = this.deps;
    const images = config.images;
    const record = await this.records.get(String(req.id), () => catalog.getResource(req.id));
    if (!record) throw new NotFoundError('resource', req.id);

    let signed = false;
    if (req.sig !== undefined || req.exp !== undefined) {
      if (!images.urlSecret)
        throw new InvalidRequestError('Signed image URLs are not enabled on this server (IMAGE_URL_SECRET is unset); drop exp and sig.');
      const check = checkImageSignature(req.path, req.exp ?? '', req.sig ?? '', images.urlSecret);
      if (check === 'invalid')
        throw new UnauthorizedError(
          `The signature of this image URL does not match ${req.path} and its exp; sign "${req.path}?exp=<exp>" with IMAGE_URL_SECRET.`,
        );
      if (check === 'expired')
        throw new UnauthorizedError(
          `This signed image URL expired at ${new Date(Number(req.exp) * 1000).toISOString()}; ask for a new one.`,
        );
      signed = true;
    }
    const keyed = req.apiKey && (!req.apiKeyLibraries || req.apiKeyLibraries.includes(record.library));
    if (record.visibility !== 'public' && !keyed && !signed) {
      throw new UnauthorizedError(`Resource ${record.id} is private: send "Authorization: Bearer <key>" or use a signed image URL.`);
    }
    const isPublic = record.visibility === 'public';
    // Metadata without a file yet (a compat face's create_resource): nothing to serve or render.
    if (!record.storageKey)
      throw new AppError('not_found', `Resource ${record.id} has no file yet; upload one with PUT /v1/resources/${record.id}/file.`);

    if (req.width === 0 && req.height === 0) return this.original(record, req, isPublic);

    if (!hasRenditions(record)) {
      throw new AppError(
        'not_found',
        `Resource ${record.id} is ${record.type === 'audio' ? 'audio without cover art' : 'not an image, video or document'} (${record.mimeType}); only its original is served, at /image/0x0/${record.id}.${originalExtension(record)}.`,
      );
    }
    const format = formatOfExtension(req.extension);
    if (!format)
      throw new InvalidRequestError(`Expected a rendition extension of webp, jpg, png or avif but received ".${req.extension}".`);
    if (req.width > images.maxDimension || req.height > images.maxDimension) {
      throw new InvalidRequestError(
        `Expected width and height of at most ${images.maxDimension} (IMAGE_MAX_DIMENSION) but received ${req.width}x${req.height}.`,
      );
    }
    if (record.status === 'failed') {
      throw new AppError(
        (record.errorCode ?? 'unreadable_file') as ErrorCode,
        record.error ?? `Resource ${record.id} could not be processed.`,
      );
    }
    const ext = extensionOfFormat(format);
    const key = renditionKey(record.id, record.fileVersion, req.width, req.height, ext);
    const url = `/image/${req.width}x${req.height}/${record.id}.${ext}`;

    // Pre-rendered presets are listed on the record: no library lookup, one stat.
    const listed = record.renditions.some((r) => r.url === url);
    if (!listed && !signed) await this.assertAllowed(record, req.width, req.height, format, !keyed);

    let found = await this.locate(key);
    if (!found) {
      this.objects.delete(key);
      await this.deps.renders.render(
        { resourceId: record.id, fileVersion: record.fileVersion, width: req.width, height: req.height, format },
        key,
        images.renderWaitSeconds * 1000,
      );
      found = await this.locate(key);
      if (!found) throw new AppError('internal', 'The rendition was rendered but is not in storage.');
    }
    const { info, body } = found;
    return {
      key,
      info,
      ...(body ? { body } : {}),
      contentType: `image/${format}`,
      etag: objectEtag(key, info),
      public: isPublic,
      attachment: undefined,
      record,
    };
  }

  private async original(record: ResourceRecord, req: ImageRequest, isPublic: boolean): Promise<ImageObject> {
    const ext = originalExtension(record);
    if (canonicalExt(req.extension) !== canonicalExt(ext)) {
      throw new AppError(
        'not_found',
        `Resource ${record.id} is a ${ext || 'file without extension'} (${record.mimeType}); its original is /image/0x0/${record.id}.${ext}, not ".${req.extension}".`,
      );
    }
    const found = await this.locate(record.storageKey);
    if (!found) throw new NotFoundError('stored file of resource', record.id);
    const { info, body } = found;
    // Raster images are shown inline. Everything else — SVG and HTML above all, which
    // would run scripts on our origin — is a download (and the API adds a sandbox CSP).
    const inline = record.type === 'image' && !ACTIVE_CONTENT_MIME.test(record.mimeType);
    return {
      key: record.storageKey,
      info,
      ...(body ? { body } : {}),
      contentType: record.mimeType || 'application/octet-stream',
      // The content's own SHA-256: the same bytes have the same tag on every replica.
      etag: `"${record.checksum.slice(0, 40)}"`,
      public: isPublic,
      attachment: inline ? undefined : record.fileName || `${record.id}.${ext}`,
      record,
    };
  }

  /**
   * Presets of the resource's library, the configured sizes, or nothing (400 with the
   * list). Anonymous requests get a preset's size in the preset's own format only: each
   * other format would be one more render (and stored object) anyone could cause.
   */
  private async assertAllowed(record: ResourceRecord, width: number, height: number, format: string, anonymous: boolean): Promise<void> {
    const { images } = this.deps.config;
    if (images.sizes.some((s) => s.width === width && s.height === height)) return;
    const library = await this.deps.catalog.findLibrary(record.library);
    const presets = effectivePresets(library, images.presets);
    if (presets.some((p) => p.width === width && p.height === height && (!anonymous || p.format === format))) return;
    const allowed = [
      ...new Set([
        ...presets.map((p) => (anonymous ? `${p.width}x${p.height}.${extensionOfFormat(p.format)}` : `${p.width}x${p.height}`)),
        ...images.sizes.map((s) => `${s.width}x${s.height}`),
      ]),
    ];
    throw new InvalidRequestError(
      `The size ${width}x${height} (${format}) is not rendered on demand. Allowed sizes: ${allowed.join(', ') || 'none'}` +
        `${images.urlSecret ? `; any size up to ${images.maxDimension} with a signed URL` : ''}. 0x0 is the original.`,
      { allowed },
    );
  }

  /** Forget what is known about an object (it turned out to be gone). */
  forget(key: string): void {
    this.objects.delete(key);
  }

  /**
   * Size and date of an object; on a store without local files that can `open` (S3),
   * the body too, from the same GET — unless the size is remembered from a moment ago,
   * then the route makes its one GET itself. Never shares an open body between requests.
   */
  private async locate(key: string): Promise<{ info: ObjectInfo; body?: Readable } | undefined> {
    const { store } = this.deps;
    if (!store.open || store.localPath(key) !== undefined) {
      const info = await this.objects.get(key, () => this.head(key));
      return info ? { info } : undefined;
    }
    const known = await this.objects.peek(key)?.catch(() => undefined);
    if (known) return { info: known };
    try {
      const opened = await store.open(key);
      this.objects.set(key, opened.info);
      return opened;
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
  }

  private async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      return await this.deps.store.head(key);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
  }
}

function originalExtension(record: ResourceRecord): string {
  return record.extension || 'bin';
}

function canonicalExt(ext: string): string {
  const e = ext.toLowerCase();
  return e === 'jpeg' ? 'jpg' : e === 'tif' ? 'tiff' : e;
}

/** Changes whenever the object is rewritten (re-render after a preset change), equal across replicas. */
function objectEtag(key: string, info: ObjectInfo): string {
  const h = createHash('sha1')
    .update(`${key}\n${info.size}\n${info.lastModified?.getTime() ?? ''}`)
    .digest('base64url');
  return `"${h.slice(0, 22)}"`;
}

/** Values kept for `ttlMs`, at most `max` of them (the oldest go first); concurrent misses share one load. */
class TtlCache<T> {
  private readonly map = new Map<string, { at: number; value: Promise<T> }>();
  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this.map.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const value = load();
    this.map.delete(key);
    this.map.set(key, { at: now, value });
    value.catch(() => this.map.delete(key));
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
    return value;
  }

  /** The value if fresh, without loading it. */
  peek(key: string): Promise<T> | undefined {
    const hit = this.map.get(key);
    return hit && Date.now() - hit.at < this.ttlMs ? hit.value : undefined;
  }

  set(key: string, value: T): void {
    this.map.delete(key);
    this.map.set(key, { at: Date.now(), value: Promise.resolve(value) });
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }

  delete(key: string): void {
    this.map.delete(key);
  }
}
