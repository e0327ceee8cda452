// Broken and hostile video, audio, PDF and raster files: each ends as a clear answer
// (ready, or failed with a one-line reason that names no server path) within the wait,
// with the external decoders held to their time and memory limits.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DETAIL, sanitizeDetail } from '../../shared/error-detail.js';
import type { Resource } from '../../shared/model.js';
import { sniffType } from '../../shared/upload/sniff.js';
import { ffmpeg, magick, makeAudio, makePdf, makePicture, makeVideo } from '../harness/media-samples.js';
import { whichProgram } from '../../worker/media-programs.js';
import { form, startService, type TestService } from '../harness/service.js';

/** What every `detail` and `error` must look like. */
function expectCleanDetail(label: string, text: string | null | undefined) {
  expect(text, label).toBeTruthy();
  expect(text!.length, label).toBeLessThanOrEqual(MAX_DETAIL);
  expect(text, label).not.toMatch(/[\r\n]/);
  expect(text, label).not.toMatch(/\/(tmp|var|home|work|data|app)\/|media-ingest-worker-|original\.[a-z]+|resources\/[0-9a-f]{3}\//);
}

describe('error details', () => {
  it('are one line of at most 500 characters without server paths or internal file names', () => {
    const libtiff = `/srv/app/data/objects/resources/3f2/17/v1/original.tif: bad seek\n${'TIFFReadDirectory: Warning, Unknown field with tag 50000 (0xc350) encountered.\n'.repeat(130)}`;
    const out = sanitizeDetail(`The image could not be decoded: ${libtiff}`);
    expectCleanDetail('libtiff', out);
    expect(out).toMatch(/^The image could not be decoded: the file: bad seek TIFFReadDirectory: Warning/);
    expect(sanitizeDetail('Open /tmp/media-ingest-worker-812/mi-source-AbC123/decoded.jpg failed')).toBe('Open the file failed');
    // URL paths a client should follow stay.
    expect(sanitizeDetail('Expected path like /image/300x0/7.webp but received "/etc/passwd".')).toBe(
      'Expected path like /image/300x0/7.webp but received "/etc/passwd".',
    );
    expect(sanitizeDetail('its original is /image/0x0/12.pdf; upload with PUT /v1/resources/12/file.')).toBe(
      'its original is /image/0x0/12.pdf; upload with PUT /v1/resources/12/file.',
    );
  });
});

describe('sniffing hard cases', () => {
  it('knows a TIFF whose directory lies past the first 4 KiB, a TGA from a cursor, a FLI from MPEG audio', async () => {
    const tiffHead = Buffer.alloc(4100);
    tiffHead.write('II*\0', 0, 'latin1');
    tiffHead.writeUInt32LE(900_000, 4);
    expect(await sniffType(tiffHead, 'scan.bin')).toMatchObject({ mimeType: 'image/tiff', type: 'image' });
    // An uncompressed true-colour TGA begins 00 00 02 00, as a CUR does.
    const tga = Buffer.alloc(18 + 4 * 4 * 3);
    tga.set([0, 0, 2], 0);
    tga.writeUInt16LE(4, 12);
    tga.writeUInt16LE(4, 14);
    tga[16] = 24;
    expect(await sniffType(tga, 'sprite.tga')).toMatchObject({ mimeType: 'image/x-tga', type: 'image' });
    expect((await sniffType(tga, 'sprite.bin')).mimeType).not.toBe('image/x-icon');
    // A FLI whose 32-bit size happens to start with an MPEG frame sync.
    const fli = Buffer.alloc(256, 7);
    fli.writeUInt32LE(0x0003e3ff, 0);
    fli.set([0x11, 0xaf], 4);
    fli.writeUInt16LE(10, 6);
    expect(await sniffType(fli, 'anim.fli')).toMatchObject({ mimeType: 'video/x-flic', type: 'video' });
    // Two bytes of frame sync followed by noise: not audio.
    const noise = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i < 2 ? [0xff, 0xfb][i]! : (i * 7919) % 251)));
    expect((await sniffType(noise, 'x.bin')).type).not.toBe('audio');
  });
});

/** Without the decoders (npm test's pretest installs them as root) these tests cannot run. */
const lacking = ['ffmpeg', 'ffprobe', 'pdftoppm', 'pdfinfo', 'convert-im6.q16'].filter((p) => !whichProgram(p));
if (lacking.length) console.log(`[media] skipped: ${lacking.join(', ')} not installed (apt-get install ffmpeg poppler-utils imagemagick)`);

describe.skipIf(lacking.length > 0)('hostile media', () => {
  let svc: TestService;
  let dir: string;
  const log: string[] = [];
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-hostile-media-'));
    svc = await startService('fs', {
      env: { MAX_IMAGE_PIXELS: '40000000', RENDITION_PRESETS: 'thumbnail:200x200:cover:webp:75', JOB_ATTEMPTS: '1' },
    });
  });
  afterAll(async () => {
    console.log(`[hostile-media] ${log.join('; ')}`);
    await svc?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  async function send(name: string, data: Buffer): Promise<{ status: number; detail?: string; record?: Resource }> {
    const res = await svc.fetch('/v1/libraries/default/files?wait=150', { method: 'POST', body: form({ file: { name, data } }) });
    const body = await res.text();
    const id = Number(res.headers.get('x-resource-id'));
    const out: { status: number; detail?: string; record?: Resource } = { status: res.status };
    if (res.status !== 204) out.detail = (JSON.parse(body) as { detail: string }).detail;
    if (id) out.record = (await (await svc.fetch(`/v1/resources/${id}`)).json()) as Resource;
    log.push(
      `${name}: ${res.status} ${out.record?.status ?? ''} ${out.record?.type ?? ''} ${(out.record?.error ?? out.detail ?? '').slice(0, 120)}`,
    );
    expect(res.status, `${name}: ${body.slice(0, 300)}`).toBeLessThan(500);
    if (out.detail) expectCleanDetail(name, out.detail);
    if (out.record) {
      expect(['ready', 'failed'], `${name}: still ${out.record.status}`).toContain(out.record.status);
      if (out.record.status === 'failed') {
        expectCleanDetail(name, out.record.error);
        expect(out.record.errorCode, name).toBe('unreadable_file');
      }
    }
    return out;
  }

  it('broken videos and audio fail with the reason or render what is there', async () => {
    const clip = path.join(dir, 'clip.mp4');
    await makeVideo(clip, { width: 320, height: 240, seconds: 3, codec: 'h264' });
    const mp4 = await fs.readFile(clip);
    // moov at the end (ffmpeg's default): cut short, nothing says what the data is.
    const truncated = await send('truncated.mp4', mp4.subarray(0, Math.floor(mp4.length * 0.6)));
    expect(truncated.record?.status).toBe('failed');
    expect(truncated.record?.error).toMatch(/ffprobe|video|audio/i);
    // The header and nothing else: a Matroska file cut after its track list.
    const mkv = path.join(dir, 'clip.mkv');
    await makeVideo(mkv, { width: 320, height: 240, seconds: 2, codec: 'vp8' });
    const headerOnly = await send('header-only.mkv', (await fs.readFile(mkv)).subarray(0, 600));
    expect(headerOnly.record?.status).toBe('failed');
    // Absurd dimensions: PNG frames in Matroska, every IHDR (CRC fixed) and the track
    // header saying 30000x30000, which decoded would take 2.7 GB a frame.
    const tiny = path.join(dir, 'tiny.mkv');
    await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=320x256:d=1:r=5', '-c:v', 'png', tiny]);
    const patched = await fs.readFile(tiny);
    for (let at = patched.indexOf('IHDR'); at > 0; at = patched.indexOf('IHDR', at + 4)) {
      patched.writeUInt32BE(30_000, at + 4);
      patched.writeUInt32BE(30_000, at + 8);
      patched.writeUInt32BE(zlib.crc32(patched.subarray(at, at + 17)), at + 17);
    }
    const w = patched.indexOf(Buffer.from([0xb0, 0x82, 0x01, 0x40]));
    const h = patched.indexOf(Buffer.from([0xba, 0x82, 0x01, 0x00]));
    expect(w > 0 && h > 0).toBe(true);
    patched.writeUInt16BE(30_000, w + 2);
    patched.writeUInt16BE(30_000, h + 2);
    const absurd = await send('absurd.mkv', patched);
    expect(absurd.record?.status).toBe('failed');
    // Zero-length streams: an MP3 that is an ID3 tag and nothing else; a WAV with no samples.
    await send('id3-only.mp3', Buffer.concat([Buffer.from('ID3\x03\x00\x00\x00\x00\x00\x00', 'latin1')]));
    const wav = path.join(dir, 'empty.wav');
    await makeAudio(wav, { seconds: 0.001, codec: ['-c:a', 'pcm_s16le'] });
    const wavBytes = await fs.readFile(wav);
    await send('no-samples.wav', wavBytes.subarray(0, 44));
    // Random bytes behind a valid MP4 ftyp box.
    await send(
      'ftyp-noise.mp4',
      Buffer.concat([mp4.subarray(0, 32), Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 2654435761) % 256))]),
    );
  }, 300_000);

  it('broken PDFs: truncated, empty, 100,000 declared pages, absurd page size, a damaged TIFF', async () => {
    const pdf = makePdf({ pages: 3, width: 300, height: 400 });
    const truncated = await send('truncated.pdf', pdf.subarray(0, Math.floor(pdf.length * 0.5)));
    expect(['ready', 'failed']).toContain(truncated.record?.status);
    const empty = await send('empty.pdf', Buffer.from('%PDF-1.4\n%%EOF\n'));
    expect(empty.record?.status).toBe('failed');
    expect(empty.record?.error).toMatch(/PDF/);
    // Poppler checks a declared page count against the objects there are.
    const declared = await send('100k-pages.pdf', makePdf({ pages: 1, width: 300, height: 400, declaredPages: 100_000 }));
    expect(declared.record?.status).toBe('failed');
    expect(declared.record?.error).toMatch(/page count \(100000\)/i);
    const giant = await send('giant-page.pdf', makePdf({ pages: 1, width: 14_400_000, height: 14_400_000 }));
    expect(['ready', 'failed']).toContain(giant.record?.status);
    // A TIFF whose only strip points past the end of the file: libtiff reads nothing,
    // libvips only warns; the result would be a black square.
    const tif = path.join(dir, 'one-strip.tif');
    await fs.writeFile(`${tif}.png`, await makePicture(200, 150));
    await magick([`${tif}.png`, '-define', 'tiff:rows-per-strip=1000', '-compress', 'none', tif]);
    const bytes = await fs.readFile(tif);
    const ifd = bytes.readUInt32LE(4);
    for (let i = 0, n = bytes.readUInt16LE(ifd); i < n; i++) {
      const e = ifd + 2 + 12 * i;
      if (bytes.readUInt16LE(e) === 273) bytes.writeUInt32LE(0x7ffffff0, e + 8);
    }
    const damaged = await send('strip-past-end.tif', bytes);
    expect(damaged.record?.status).toBe('failed');
  }, 300_000);
});
