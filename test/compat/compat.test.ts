// The compatibility faces, driven the way each system's documentation shows its
// clients: ResourceSpace and Copernica by their PHP/cURL examples run with a real PHP
// CLI, Flotiq by its Node form-data + fetch example, IBM Connections and the
// ResourceSpace shell example by curl. Each test also checks the resource behind the
// answer really went through the pipeline: metadata, renditions, de-duplication —
// on both stores, since every face rides the same core.
import { execFile, spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { promisify } from 'node:util';
import { XMLParser } from 'fast-xml-parser';
import FormData from 'form-data';
import libmime from 'libmime';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, storageKinds, type StorageKind, type TestService } from '../harness/service.js';

const run = promisify(execFile);
const CLIENTS = path.join(import.meta.dirname, 'clients');

const PHP_READY = spawnSync('php', ['-r', 'exit(function_exists("curl_init") ? 0 : 1);']).status === 0;
if (!PHP_READY) console.warn('compat: PHP client tests skipped: no php with the curl extension (apt-get install php-cli php-curl)');
const CURL_READY = spawnSync('curl', ['--version']).status === 0;
if (!CURL_READY) console.warn('compat: curl client tests skipped: no curl on the PATH (apt-get install curl)');

const RS_USER = 'alice';
const RS_KEY = 'rs-private-key-0123456789';
const COPERNICA_TOKEN = 'copernica-token-0123456789';
const FLOTIQ_KEY = 'flotiq-key-0123456789abcdef';
const CX_USER = 'carol';
const CX_PASSWORD = 'p@ss:word-0123456789';

/** A JPEG of its own (random EXIF make: de-duplication never links two tests) with EXIF the pipeline must read. */
async function photo(width = 160, height = 100, make = `Cam-${randomBytes(4).toString('hex')}`): Promise<{ bytes: Buffer; make: string }> {
  const bytes = await sharp({ create: { width, height, channels: 3, background: { r: 30, g: 120, b: 200 } } })
    .jpeg()
    .withExif({ IFD0: { Make: make, Model: 'Compat 1' } })
    .toBuffer();
  return { bytes, make };
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A resource as GET /v1/resources/{id} answers it (the fields these tests read). */
interface Rec extends Record<string, unknown> {
  metadata: Record<string, unknown>;
  renditions: { url: string }[];
  fileVersion: number;
}
/** An Atom element as fast-xml-parser gives it: attributes as `@_name`. */
type Attrs = Record<string, string>;
type FlotiqMedia = Record<string, unknown> & { id: string; url: string };

describe.each<StorageKind>(storageKinds())('compatibility faces (%s store)', (storage) => {
  let svc: TestService;
  let tmp: string;
  /** A stand-in for Unsplash on a local port: its photos, by id; 404 for the rest. */
  let unsplash: http.Server;
  const unsplashPhotos = new Map<string, Buffer>();

  beforeAll(async () => {
    unsplash = http.createServer((req, res) => {
      const photo = unsplashPhotos.get(/^\/photos\/([^/]+)\.jpg$/.exec(req.url ?? '')?.[1] ?? '');
      if (!photo) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo);
    });
    await new Promise<void>((resolve) => unsplash.listen(0, '127.0.0.1', resolve));
    const { port } = unsplash.address() as AddressInfo;
    svc = await startService(storage, {
      env: {
        UNSPLASH_SOURCE_URL: `http://127.0.0.1:${port}/photos/{id}.jpg`,
        RESOURCESPACE_USERS: `${RS_USER}:${RS_KEY},bob:another-key-0123456789`,
        // Confined (issue 21): without @… a token writes into `default` only.
        COPERNICA_TOKENS: `${COPERNICA_TOKEN}@default|newsletter`,
        FLOTIQ_API_KEYS: FLOTIQ_KEY,
        CONNECTIONS_USERS: `${CX_USER}:${CX_PASSWORD}`,
        // Small, so the 413 of each face is cheap to provoke; ResourceSpace prints it as "2M".
        MAX_UPLOAD_BYTES: '2M',
        WAIT_MAX_SECONDS: '30',
      },
    });
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'mi-compat-'));
  });
  afterAll(async () => {
    await svc?.close();
    unsplash?.close();
    if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
  });

  async function file(name: string, data: Uint8Array | string): Promise<string> {
    const p = path.join(tmp, `${randomBytes(3).toString('hex')}-${name}`);
    await fsp.writeFile(p, data);
    return p;
  }

  /** The full record through the native API: status, metadata, renditions. */
  async function resource(id: number): Promise<Rec> {
    const res = await svc.fetch(`/v1/resources/${id}`);
    expect(res.status).toBe(200);
    return res.json();
  }

  async function storedOriginals(id: number): Promise<string[]> {
    return (await svc.allObjects()).filter((k) => k.includes(`/${id}/`) && /\/original[^/]*$/.test(k));
  }

  // ── ResourceSpace ────────────────────────────────────────────────────────────

  async function rsPhp(fn: string, params: Record<string, unknown>, upload?: string, key = RS_KEY) {
    const { stdout } = await run('php', [path.join(CLIENTS, 'resourcespace.php')], {
      env: {
        ...process.env,
        RS_URL: `${svc.url}/api/`,
        RS_USER,
        RS_PRIVATE_KEY: key,
        RS_FUNCTION: fn,
        RS_PARAMS: JSON.stringify(params),
        RS_FILE: upload ?? '',
      },
    });
    const out = JSON.parse(stdout) as { status: number; body: string; error: string };
    expect(out.error).toBe('');
    return out;
  }

  describe.skipIf(!PHP_READY)('ResourceSpace (the documented PHP/cURL client)', () => {
    it("create_resource, then upload_multipart with the seed's no_exif=true: 204 once processed, the file replaced, no metadata read", async () => {
      const created = await rsPhp('create_resource', { resource_type: 1 });
      expect(created.status).toBe(200);
      const ref = JSON.parse(created.body) as number;
      expect(Number.isInteger(ref)).toBe(true);
      expect(await resource(ref)).toMatchObject({ status: 'ready', size: 0, source: 'resourcespace' });

      const { bytes } = await photo(200, 120);
      const up = await rsPhp('upload_multipart', { ref, no_exif: true, revert: false }, await file('photo.jpg', bytes));
      expect(up).toMatchObject({ status: 204, body: '' });
      const rec = await resource(ref);
      expect(rec).toMatchObject({
        status: 'ready',
        size: bytes.length,
        checksum: sha256(bytes),
        width: 200,
        height: 120,
        type: 'image',
        noExif: true,
      });
      expect(rec.metadata['EXIF:Make']).toBeUndefined();
      expect(rec.renditions.length).toBeGreaterThan(0);
      expect(await storedOriginals(ref)).toHaveLength(1);
    });

    it('upload_multipart with no_exif=false reads the metadata; get_resource_data answers the row', async () => {
      const ref = JSON.parse((await rsPhp('create_resource', { resource_type: 1 })).body) as number;
      const { bytes, make } = await photo();
      expect((await rsPhp('upload_multipart', { ref, no_exif: false, revert: false }, await file('p.jpg', bytes))).status).toBe(204);
      expect((await resource(ref)).metadata['EXIF:Make']).toBe(make);

      const data = await rsPhp('get_resource_data', { resource: ref });
      expect(data.status).toBe(200);
      expect(JSON.parse(data.body)).toMatchObject({
        ref: String(ref),
        file_extension: 'jpg',
        file_size: String(bytes.length),
        file_checksum: sha256(bytes),
        resource_type: '1',
      });
    });

    it('revert re-processes the stored file without a new one: metadata skipped by no_exif is read', async () => {
      const ref = JSON.parse((await rsPhp('create_resource', {})).body) as number;
      const early = await rsPhp('upload_multipart', { ref, no_exif: false, revert: true });
      expect(early.status).toBe(400);
      expect(JSON.parse(early.body).data.message).toBe(
        `Resource ${ref} has no file yet, so there is nothing to re-process; upload one with upload_multipart first.`,
      );
      const { bytes, make } = await photo();
      expect((await rsPhp('upload_multipart', { ref, no_exif: true, revert: false }, await file('r.jpg', bytes))).status).toBe(204);
      const before = await resource(ref);
      expect(before.metadata['EXIF:Make']).toBeUndefined();

      const reverted = await rsPhp('upload_multipart', { ref, no_exif: false, revert: true });
      expect(reverted).toMatchObject({ status: 204, body: '' });
      const after = await resource(ref);
      expect(after).toMatchObject({ status: 'ready', fileVersion: before.fileVersion, checksum: sha256(bytes) });
      expect(after.metadata['EXIF:Make']).toBe(make);
    });

    it("a file over the limit: 413 with the configured size in ResourceSpace's words, nothing stored", async () => {
      const ref = JSON.parse((await rsPhp('create_resource', {})).body) as number;
      const big = await file('big.bin', randomBytes(2 * 1024 * 1024 + 10));
      const res = await rsPhp('upload_multipart', { ref, no_exif: true, revert: false }, big);
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body)).toEqual({ status: 'fail', data: { message: 'The maximum allowed upload file size is 2M.' } });
      expect(await storedOriginals(ref)).toEqual([]);
      expect(await resource(ref)).toMatchObject({ size: 0, fileVersion: 1 });
    });

    it('the same bytes onto another resource: 400 "Duplicate file upload, file matches resources: N"', async () => {
      const { bytes } = await photo();
      const path1 = await file('d.jpg', bytes);
      const first = JSON.parse((await rsPhp('create_resource', {})).body) as number;
      expect((await rsPhp('upload_multipart', { ref: first, no_exif: true, revert: false }, path1)).status).toBe(204);
      const second = JSON.parse((await rsPhp('create_resource', {})).body) as number;
      const dup = await rsPhp('upload_multipart', { ref: second, no_exif: true, revert: false }, path1);
      expect(dup.status).toBe(400);
      expect(JSON.parse(dup.body)).toEqual({
        status: 'fail',
        data: { message: `Duplicate file upload, file matches resources: ${first}` },
      });
    });

    it('a wrong private key or unknown user: 401 JSend, no resource created', async () => {
      const before = await svc.core.catalog.countResources();
      const wrong = await rsPhp('create_resource', {}, undefined, 'not-the-key');
      expect(wrong.status).toBe(401);
      expect(JSON.parse(wrong.body)).toEqual({ status: 'fail', data: { message: 'Invalid signature' } });
      expect(await svc.core.catalog.countResources()).toBe(before);
    });
  });

  describe.skipIf(!CURL_READY)('ResourceSpace (the documented curl example)', () => {
    it('signs "yourPrivateKey" + query with sha256sum and posts the quoted form fields: 204', async () => {
      const ref = JSON.parse(await signedGet('create_resource', {})) as number;
      const query = `user=${RS_USER}&function=upload_multipart&ref=${ref}&no_exif=1&revert=0`;
      const sign = createHash('sha256')
        .update(RS_KEY + query)
        .digest('hex');
      const { bytes } = await photo();
      const p = await file('curl.jpg', bytes);
      const { stdout } = await run('curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-F',
        `query="${query}"`,
        '-F',
        `sign="${sign}"`,
        '-F',
        `user="${RS_USER}"`,
        '-F',
        `file=@${p}`,
        `${svc.url}/api/`,
      ]);
      expect(stdout).toBe('204');
      expect(await resource(ref)).toMatchObject({ status: 'ready', checksum: sha256(bytes) });
    });

    /** ResourceSpace's GET form: the signed query string itself. */
    async function signedGet(fn: string, params: Record<string, string>): Promise<string> {
      const query = new URLSearchParams({ user: RS_USER, function: fn, ...params }).toString();
      const sign = createHash('sha256')
        .update(RS_KEY + query)
        .digest('hex');
      const { stdout } = await run('curl', ['-s', '-f', `${svc.url}/api/?${query}&sign=${sign}`]);
      return stdout;
    }
  });

  // ── Copernica ────────────────────────────────────────────────────────────────

  async function copernicaPhp(library: string | number, upload: string, opts: { token?: string; type?: string } = {}) {
    const { stdout } = await run('php', [path.join(CLIENTS, 'copernica.php')], {
      env: {
        ...process.env,
        COPERNICA_BASE: svc.url,
        COPERNICA_LIBRARY: String(library),
        COPERNICA_TOKEN: opts.token ?? COPERNICA_TOKEN,
        COPERNICA_FILE: upload,
        COPERNICA_TYPE: opts.type ?? '',
      },
    });
    return JSON.parse(stdout) as { status: number; headers: Record<string, string>; body: string; error: string };
  }

  describe.skipIf(!PHP_READY)('Copernica (the documented PHP/cURL client)', () => {
    it('an image by library name: no body, the new id in X-Created, processed as an image with metadata and renditions', async () => {
      await svc.core.catalog.createLibrary({ name: 'newsletter' });
      const { bytes, make } = await photo(300, 200);
      const res = await copernicaPhp('newsletter', await file('banner.jpg', bytes));
      expect(res.status).toBe(201);
      expect(res.body).toBe('');
      const id = Number(res.headers['x-created']);
      expect(res.headers['x-resource-id']).toBe(String(id));
      const rec = await resource(id);
      expect(rec).toMatchObject({
        status: 'ready',
        type: 'image',
        width: 300,
        height: 200,
        source: 'copernica',
        fileName: expect.stringMatching(/banner\.jpg$/),
      });
      expect(rec.metadata['EXIF:Make']).toBe(make);
      expect(rec.renditions.length).toBeGreaterThan(0);
    });

    it("the part's content type decides: an image sent as application/pdf is handled as a file (no dimensions, no renditions)", async () => {
      const lib = await svc.core.catalog.getLibrary('default');
      const { bytes } = await photo();
      const res = await copernicaPhp(lib.id, await file('not-an-image.jpg', bytes), { type: 'application/pdf' });
      expect(res.status).toBe(201);
      const rec = await resource(Number(res.headers['x-created']));
      expect(rec).toMatchObject({ status: 'ready', type: 'file', width: null, renditions: [] });
    });

    it("a wrong access token: 401 with Copernica's error body; an unknown library: 404", async () => {
      const p = await file('x.txt', 'hello');
      const bad = await copernicaPhp('default', p, { token: 'nope' });
      expect(bad.status).toBe(401);
      expect(JSON.parse(bad.body)).toEqual({ error: { message: 'Invalid access token' } });
      const missing = await copernicaPhp('no-such-library', p);
      expect(missing.status).toBe(404);
      expect(JSON.parse(missing.body).error.message).toMatch(/no-such-library/);
    });
  });

  // ── Flotiq ───────────────────────────────────────────────────────────────────

  /** The documented Node client: form-data appended file, type, save, then fetch. */
  async function flotiqUpload(upload: string, type: string, save: 0 | 1, headers: Record<string, string> = { 'X-AUTH-TOKEN': FLOTIQ_KEY }) {
    const form = new FormData();
    form.append(`file`, fs.createReadStream(upload), path.basename(upload));
    form.append(`type`, type);
    form.append(`save`, save);
    // form-data is a classic stream; Node's fetch takes a web stream (half duplex).
    const body = Readable.toWeb(form.pipe(new PassThrough())) as ReadableStream;
    return fetch(svc.url + `/api/media`, {
      method: `POST`,
      body,
      headers: { ...form.getHeaders(), ...headers },
      duplex: 'half',
    } as RequestInit);
  }
  const flotiq = (p: string, init: RequestInit = {}) =>
    fetch(svc.url + p, { ...init, headers: { 'X-AUTH-TOKEN': FLOTIQ_KEY, ...(init.headers as Record<string, string>) } });

  describe('Flotiq (the documented form-data + fetch client)', () => {
    it('save=1: the _media object with every field of the content type, the right size, a url that serves the original', async () => {
      const { bytes, make } = await photo(150, 300);
      const res = await flotiqUpload(await file('example_image.jpg', bytes), 'image', 1);
      expect(res.status).toBe(200);
      const json = (await res.json()) as FlotiqMedia;
      const id = Number(/^_media-(\d+)$/.exec(json.id)![1]);
      expect(json).toMatchObject({
        extension: 'jpg',
        fileName: expect.stringMatching(/example_image\.jpg$/),
        mimeType: 'image/jpeg',
        size: bytes.length,
        type: 'image',
        source: 'disk',
        externalId: '',
        url: `/image/0x0/_media-${id}.jpg`,
        width: 150,
        height: 300,
      });
      // additionalProperties: false in the definition — nothing but its fields (and id, internal).
      const defined = ['fileName', 'mimeType', 'size', 'width', 'height', 'url', 'externalId', 'source', 'extension', 'type'];
      expect(Object.keys(json).sort()).toEqual([...defined, 'id', 'internal'].sort());
      expect(json.internal).toMatchObject({ contentType: '_media' });

      const original = await fetch(svc.url + json.url);
      expect(original.status).toBe(200);
      expect(sha256(new Uint8Array(await original.arrayBuffer()))).toBe(sha256(bytes));
      const rec = await resource(id);
      expect(rec.metadata['EXIF:Make']).toBe(make);
      const rendition = rec.renditions[0]!;
      expect(rendition).toBeDefined();
      const resized = await fetch(svc.url + rendition.url.replace(`/${id}.`, `/_media-${id}.`));
      expect(resized.status).toBe(200);
      expect(resized.headers.get('content-type')).toMatch(/^image\//);

      expect(await (await flotiq(`/api/v1/content/_media/${json.id}`)).json()).toMatchObject({ id: json.id, width: 150, height: 300 });
      const list = (await (await flotiq('/api/v1/content/_media?limit=100')).json()) as { total_count: number; data: { id: string }[] };
      expect(list.data.map((d) => d.id)).toContain(json.id);
    });

    it('save=0 leaves the old two-step flow: no content object until POST /api/v1/content/_media', async () => {
      const res = await flotiqUpload(await file('doc.pdf', `%PDF-1.4\n% ${randomBytes(8).toString('hex')}\n%%EOF\n`), 'file', 0);
      expect(res.status).toBe(200);
      const media = (await res.json()) as FlotiqMedia;
      expect(media).toMatchObject({ type: 'file', width: 0, height: 0, extension: 'pdf', mimeType: 'application/pdf' });
      expect(media.internal).toBeUndefined();
      const original = await fetch(svc.url + media.url);
      expect(original.status).toBe(200);
      expect(original.headers.get('content-type')).toMatch(/^application\/pdf/);
      expect((await flotiq(`/api/v1/content/_media/${media.id}`)).status).toBe(404);

      const saved = await flotiq('/api/v1/content/_media', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(media),
      });
      expect(saved.status).toBe(200);
      expect(await saved.json()).toMatchObject({ id: media.id, internal: { contentType: '_media' } });
      expect((await flotiq(`/api/v1/content/_media/${media.id}`)).status).toBe(200);
    });

    it('type=image for bytes that are no image: 400, nothing kept; a bad token: 401', async () => {
      const before = await svc.core.catalog.countResources();
      const notImage = await flotiqUpload(await file('fake.jpg', 'just text'), 'image', 1);
      expect(notImage.status).toBe(400);
      expect((await notImage.json()).message).toMatch(/Expected an image for type=image/);
      expect(await svc.core.catalog.countResources()).toBe(before);

      const denied = await flotiqUpload(await file('x.txt', 'x'), 'file', 1, { 'X-AUTH-TOKEN': 'wrong' });
      expect(denied.status).toBe(401);
      expect(await denied.json()).toMatchObject({ code: 401 });
    });

    it('the Unsplash import fetches from the configured source: an image upload with source "unsplash" and its externalId; 404 for an unknown photo', async () => {
      const { bytes, make } = await photo(90, 60);
      unsplashPhotos.set('Xk9-photo_1', bytes);
      const res = await flotiq('/api/unsplash/Xk9-photo_1?save=1');
      expect(res.status).toBe(200);
      const media = (await res.json()) as FlotiqMedia;
      expect(media).toMatchObject({
        source: 'unsplash',
        externalId: 'Xk9-photo_1',
        type: 'image',
        width: 90,
        height: 60,
        size: bytes.length,
        extension: 'jpg',
        internal: { contentType: '_media' },
      });
      const id = Number(media.id.slice('_media-'.length));
      expect((await resource(id)).metadata['EXIF:Make']).toBe(make);
      expect(await (await flotiq(`/api/v1/content/_media/${media.id}`)).json()).toMatchObject({ externalId: 'Xk9-photo_1' });

      const missing = await flotiq('/api/unsplash/no-such-photo');
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ code: 404 });
    });

    it('without UNSPLASH_SOURCE_URL the Unsplash import answers a clear 400 and fetches nothing', async () => {
      const bare = await startService('fs', { worker: false, env: { FLOTIQ_API_KEYS: FLOTIQ_KEY } });
      try {
        const res = await fetch(`${bare.url}/api/unsplash/abc123`, { headers: { 'X-AUTH-TOKEN': FLOTIQ_KEY } });
        expect(res.status).toBe(400);
        expect((await res.json()).message).toMatch(/needs an Unsplash source, and none is configured on this server \(UNSPLASH_SOURCE_URL/);
        expect(await bare.core.catalog.countResources()).toBe(0);
      } finally {
        await bare.close();
      }
    });
  });

  // ── IBM Connections ──────────────────────────────────────────────────────────

  const atom = new XMLParser({ ignoreAttributes: false, removeNSPrefix: true, isArray: (n) => n === 'category' || n === 'link' });
  const auth = `${CX_USER}:${CX_PASSWORD}`;

  async function curl(args: string[]): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    const { stdout } = await run('curl', ['-s', '-i', ...args]);
    // Past the last header block (curl -i prints a 100 Continue block first for big bodies).
    const blocks = stdout.split('\r\n\r\n');
    let i = 0;
    while (/^HTTP\/[\d.]+ 100/.test(blocks[i]!)) i++;
    const [statusLine, ...lines] = blocks[i]!.split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const at = l.indexOf(':');
      headers[l.slice(0, at).toLowerCase()] = l.slice(at + 1).trim();
    }
    return { status: Number(statusLine!.split(' ')[1]), headers, body: blocks.slice(i + 1).join('\r\n\r\n') };
  }
  const feed = () => `${svc.url}/files/basic/api/myuserlibrary/feed`;

  describe.skipIf(!CURL_READY)('IBM Connections Files (curl)', () => {
    it('a binary body with an RFC 2047 Slug, tags, visibility and created: 201 Atom entry, processed file', async () => {
      const { bytes, make } = await photo(120, 90);
      const p = await file('body.jpg', bytes);
      const slug = libmime.encodeWord('Élève à la plage.jpg', 'B');
      const created = Date.UTC(2020, 4, 1, 12, 0, 0);
      const res = await curl([
        '-u',
        auth,
        '-H',
        `Slug: ${slug}`,
        '-H',
        'Content-Type: image/jpeg',
        '--data-binary',
        `@${p}`,
        `${feed()}?tag=beach&tag=summer&visibility=public&created=${created}&commentNotification=off`,
      ]);
      expect(res.status).toBe(201);
      expect(res.headers['content-type']).toMatch(/^application\/atom\+xml/);
      const entry = atom.parse(res.body).entry;
      expect(entry.title['#text']).toBe('Élève à la plage.jpg');
      expect(entry.label).toBe('Élève à la plage.jpg');
      expect((entry.category as Attrs[]).filter((c) => !c['@_scheme']).map((c) => c['@_term'])).toEqual(['beach', 'summer']);
      const id = Number(entry.uuid);
      expect(res.headers.location).toBe(`${svc.url}/files/basic/api/myuserlibrary/document/${id}/entry`);
      const enclosure = (entry.link as Attrs[]).find((l) => l['@_rel'] === 'enclosure')!;
      expect(enclosure).toMatchObject({ '@_type': 'image/jpeg', '@_length': String(bytes.length) });
      const media = await fetch(enclosure['@_href']!);
      expect(media.status).toBe(200);
      expect(sha256(new Uint8Array(await media.arrayBuffer()))).toBe(sha256(bytes));

      const again1 = await curl(['-u', auth, res.headers.location!]);
      expect(again1.status).toBe(200);
      expect(atom.parse(again1.body).entry).toMatchObject({ uuid: id, label: 'Élève à la plage.jpg', visibility: 'public' });

      const rec = await resource(id);
      expect(rec).toMatchObject({
        status: 'ready',
        title: 'Élève à la plage.jpg',
        tags: ['beach', 'summer'],
        visibility: 'public',
        created: new Date(created).toISOString(),
        width: 120,
        height: 90,
      });
      expect(rec.metadata['EXIF:Make']).toBe(make);
      expect(rec.renditions.length).toBeGreaterThan(0);

      const again = await curl([
        '-u',
        auth,
        '-H',
        `Slug: ${slug}`,
        '-H',
        'Content-Type: image/jpeg',
        '--data-binary',
        `@${await file('other.jpg', (await photo()).bytes)}`,
        feed(),
      ]);
      expect(again.status).toBe(409);
      expect(atom.parse(again.body).error).toMatchObject({ errorCode: 'ItemExists' });
    });

    it('8 concurrent uploads under one label: exactly one 201, the others 409, one resource kept', async () => {
      const label = `race-${randomBytes(3).toString('hex')}.jpg`;
      const bodies = await Promise.all(Array.from({ length: 8 }, () => photo()));
      const answers = await Promise.all(
        bodies.map(({ bytes }) =>
          fetch(feed(), {
            method: 'POST',
            body: new Uint8Array(bytes),
            headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}`, slug: label, 'content-type': 'image/jpeg' },
          }),
        ),
      );
      const statuses = answers.map((r) => r.status).sort();
      expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
      const lib = await svc.core.catalog.getLibrary(`connections-${CX_USER}`);
      const all = (await svc.core.catalog.listResources({ library: lib.id, limit: 1000 })).items;
      expect(all.filter((r) => r.title === label)).toHaveLength(1);
    });

    it("an Atom entry alone creates the file's metadata without binary data", async () => {
      const entryXml = `<?xml version="1.0" encoding="UTF-8"?>
<entry xmlns="http://www.w3.org/2005/Atom" xmlns:td="urn:ibm.com/td">
  <category term="document" label="document" scheme="tag:ibm.com,2006:td/type"/>
  <category term="plans"/>
  <td:label>plans &amp; notes.txt</td:label>
  <title>plans &amp; notes.txt</title>
  <td:visibility>private</td:visibility>
</entry>`;
      const res = await curl(['-u', auth, '-H', 'Content-Type: application/atom+xml', '--data-binary', entryXml, feed()]);
      expect(res.status).toBe(201);
      const entry = atom.parse(res.body).entry;
      expect(entry.label).toBe('plans & notes.txt');
      expect(entry.totalMediaSize).toBe(0);
      expect(await resource(Number(entry.uuid))).toMatchObject({
        status: 'ready',
        size: 0,
        title: 'plans & notes.txt',
        tags: ['plans'],
        source: 'connections',
      });
    });

    it('the same bytes under another label: 409 (de-duplication); multipart: 415; wrong password: 401 with a Basic challenge', async () => {
      const { bytes } = await photo();
      const p = await file('dup.jpg', bytes);
      expect((await curl(['-u', auth, '-H', 'Slug: first.jpg', '--data-binary', `@${p}`, feed()])).status).toBe(201);
      const dup = await curl(['-u', auth, '-H', 'Slug: second.jpg', '--data-binary', `@${p}`, feed()]);
      expect(dup.status).toBe(409);
      expect(atom.parse(dup.body).error.errorMessage).toMatch(/^Duplicate file upload, file matches resources: \d+$/);

      const multipart = await curl(['-u', auth, '-H', 'Slug: m.jpg', '-F', `file=@${p}`, feed()]);
      expect(multipart.status).toBe(415);
      expect(atom.parse(multipart.body).error.errorCode).toBe('UnsupportedMediaType');

      const denied = await curl(['-u', `${CX_USER}:wrong`, '-H', 'Slug: x.jpg', '--data-binary', `@${p}`, feed()]);
      expect(denied.status).toBe(401);
      expect(denied.headers['www-authenticate']).toMatch(/^Basic /);
    });
  });
});
