// Every kind of file people upload, generated here at random sizes, durations, page
// counts and rotations (no binary fixtures): video gets a poster frame, audio a
// duration (and its cover art), a PDF its page count and page 1, and each raster format
// a common decoder opens gets renditions — on both stores.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resource } from '../../shared/model.js';
import { ffmpeg, magick, makeAudio, makePdf, makePicture, makeVideo, rand, spread } from '../harness/media-samples.js';
import { whichProgram } from '../../worker/media-programs.js';
import { form, startService, storageKinds, type StorageKind, type TestService } from '../harness/service.js';

interface Sample {
  name: string;
  /** What the resource must say; `width`/`height` as displayed. */
  expect: Partial<Pick<Resource, 'type' | 'mimeType' | 'width' | 'height' | 'pageCount'>> & {
    duration?: number;
    codec?: string;
    frameRate?: number;
  };
  /** Renditions expected (0 for audio without cover). */
  renditions: number;
}

const PRESETS = 'thumbnail:200x200:cover:webp:75,small:480x480:inside:webp:80';

let dir: string;
const samples: Sample[] = [];

async function add(name: string, make: (file: string) => Promise<void>, s: Omit<Sample, 'name'>): Promise<void> {
  await make(path.join(dir, name));
  samples.push({ name, ...s });
}

/** Writes a picture through ImageMagick into `name` (its extension picks the writer), with extra options. */
function viaMagick(w: number, h: number, opts: string[] = [], coder?: string) {
  return async (file: string) => {
    const png = `${file}.src.png`;
    await fs.writeFile(png, await makePicture(w, h));
    await magick([png, ...opts, coder ? `${coder}:${file}` : file]);
    await fs.rm(png);
  };
}

beforeAll(async () => {
  if (lacking.length) return;
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-media-types-'));
  const jobs: Promise<void>[] = [];
  const w = () => rand(120, 900, true);
  const h = () => rand(120, 700, true);

  // Video: H.264 turned by its display matrix, VP9 WebM with sound, VP8 in Matroska.
  {
    const [vw, vh, secs] = [rand(160, 640, true), rand(120, 480, true), rand(2, 5)];
    jobs.push(
      add('clip-rotated.mp4', (f) => makeVideo(f, { width: vw, height: vh, seconds: secs, codec: 'h264', rotate: 90 }), {
        expect: { type: 'video', mimeType: 'video/mp4', width: vh, height: vw, duration: secs, codec: 'h264', frameRate: 25 },
        renditions: 2,
      }),
    );
  }
  {
    const [vw, vh, secs] = [rand(160, 480, true), rand(120, 360, true), rand(2, 4)];
    jobs.push(
      add('clip.webm', (f) => makeVideo(f, { width: vw, height: vh, seconds: secs, codec: 'vp9', audio: true }), {
        expect: { type: 'video', mimeType: 'video/webm', width: vw, height: vh, duration: secs, codec: 'vp9' },
        renditions: 2,
      }),
    );
  }
  {
    const [vw, vh, secs] = [rand(160, 480, true), rand(120, 360, true), rand(2, 4)];
    jobs.push(
      add('clip.mkv', (f) => makeVideo(f, { width: vw, height: vh, seconds: secs, codec: 'vp8' }), {
        expect: { type: 'video', mimeType: 'video/matroska', width: vw, height: vh, duration: secs, codec: 'vp8' },
        renditions: 2,
      }),
    );
  }
  // Audio: MP3 without and with cover art, FLAC, WAV, AAC in M4A.
  const secs = rand(1, 6);
  jobs.push(
    add('tone.mp3', (f) => makeAudio(f, { seconds: secs, codec: ['-c:a', 'libmp3lame', '-b:a', '64k'] }), {
      expect: { type: 'audio', mimeType: 'audio/mpeg', duration: secs },
      renditions: 0,
    }),
  );
  jobs.push(
    add(
      'tone-cover.mp3',
      async (f) => {
        await fs.writeFile(`${f}.png`, await makePicture(300, 300));
        await makeAudio(f, { seconds: secs, codec: ['-c:a', 'libmp3lame', '-b:a', '64k', '-id3v2_version', '3'], cover: `${f}.png` });
      },
      { expect: { type: 'audio', mimeType: 'audio/mpeg', duration: secs }, renditions: 2 },
    ),
  );
  jobs.push(
    add('tone.flac', (f) => makeAudio(f, { seconds: secs, codec: ['-c:a', 'flac'] }), {
      expect: { type: 'audio', mimeType: 'audio/flac', duration: secs },
      renditions: 0,
    }),
  );
  jobs.push(
    add('tone.wav', (f) => makeAudio(f, { seconds: secs, codec: ['-c:a', 'pcm_s16le'] }), {
      expect: { type: 'audio', mimeType: 'audio/wav', duration: secs },
      renditions: 0,
    }),
  );
  jobs.push(
    add('tone.m4a', (f) => makeAudio(f, { seconds: secs, codec: ['-c:a', 'aac', '-b:a', '64k'] }), {
      expect: { type: 'audio', duration: secs },
      renditions: 0,
    }),
  );
  // Documents: random page counts and page sizes.
  {
    const pages = rand(1, 12);
    jobs.push(
      add('doc.pdf', (f) => fs.writeFile(f, makePdf({ pages, width: rand(200, 900), height: rand(200, 900) })), {
        expect: { type: 'document', mimeType: 'application/pdf', pageCount: pages },
        renditions: 2,
      }),
    );
  }
  // Raster formats sharp reads itself.
  for (const [name, fmt, mime] of [
    ['pic.jpg', 'jpeg', 'image/jpeg'],
    ['pic.png', 'png', 'image/png'],
    ['pic.webp', 'webp', 'image/webp'],
    ['pic.gif', 'gif', 'image/gif'],
    ['pic.avif', 'avif', 'image/avif'],
  ] as const) {
    const [iw, ih] = [w(), h()];
    jobs.push(
      add(
        name,
        async (f) =>
          fs.writeFile(
            f,
            await sharp(await makePicture(iw, ih))
              .toFormat(fmt)
              .toBuffer(),
          ),
        { expect: { type: 'image', mimeType: mime, width: iw, height: ih }, renditions: 2 },
      ),
    );
  }
  {
    const [iw, ih] = [w(), h()];
    jobs.push(
      add(
        'anim.apng',
        async (f) => {
          await fs.writeFile(`${f}.png`, await makePicture(iw, ih));
          await ffmpeg(['-loop', '1', '-i', `${f}.png`, '-vf', 'hue=h=t*90', '-frames:v', '4', '-plays', '0', '-f', 'apng', f]);
        },
        { expect: { type: 'image', mimeType: 'image/apng', width: iw, height: ih }, renditions: 2 },
      ),
    );
  }
  // TIFF layouts: strips with the directory after the data (as libtiff writes), tiled, planar, CIELab.
  for (const [name, opts] of [
    ['strips.tif', ['-compress', 'none']],
    ['tiled.tif', ['-define', 'tiff:tile-geometry=64x64', '-compress', 'zip']],
    ['planar.tif', ['-interlace', 'plane', '-compress', 'lzw']],
    ['lab.tif', ['-alpha', 'off', '-colorspace', 'Lab', '-compress', 'none']],
  ] as const) {
    const [iw, ih] = [w(), h()];
    jobs.push(
      add(name, viaMagick(iw, ih, [...opts]), { expect: { type: 'image', mimeType: 'image/tiff', width: iw, height: ih }, renditions: 2 }),
    );
  }
  // Formats libvips lacks: through ImageMagick (or ffmpeg for QOI and JPEG XL).
  for (const [name, mime, opts, coder] of [
    ['pic.bmp', 'image/bmp', [], undefined],
    ['pic.jp2', 'image/jp2', [], undefined],
    ['pic.tga', 'image/x-tga', ['-compress', 'none'], undefined],
    ['pic-rle.tga', 'image/x-tga', ['-compress', 'RLE'], undefined],
    ['pic.psd', 'image/vnd.adobe.photoshop', [], undefined],
    ['pic.pcx', 'image/x-pcx', [], undefined],
    ['pic.ppm', 'image/x-portable-pixmap', [], undefined],
    ['pic.pgm', 'image/x-portable-graymap', ['-colorspace', 'gray'], undefined],
    ['pic.dds', 'image/vnd.ms-dds', ['-define', 'dds:compression=none'], undefined],
  ] as const) {
    const [iw, ih] = [(w() / 2) * 2, h()];
    jobs.push(
      add(name, viaMagick(iw, ih, [...opts], coder), { expect: { type: 'image', mimeType: mime, width: iw, height: ih }, renditions: 2 }),
    );
  }
  {
    const side = rand(2, 8) * 16;
    jobs.push(
      add('icon.ico', viaMagick(side * 2, side * 2, ['-define', `icon:auto-resize=${side * 2},${side},16`]), {
        expect: { type: 'image', mimeType: 'image/x-icon', width: side * 2, height: side * 2 },
        renditions: 2,
      }),
    );
  }
  for (const [name, mime, enc] of [
    ['pic.qoi', 'image/qoi', ['-c:v', 'qoi']],
    ['pic.jxl', 'image/jxl', ['-c:v', 'libjxl']],
  ] as const) {
    const [iw, ih] = [w(), h()];
    jobs.push(
      add(
        name,
        async (f) => {
          await fs.writeFile(`${f}.png`, await makePicture(iw, ih));
          await ffmpeg(['-i', `${f}.png`, ...enc, '-f', 'image2', '-update', '1', f]);
        },
        { expect: { type: 'image', mimeType: mime, width: iw, height: ih }, renditions: 2 },
      ),
    );
  }
  await Promise.all(jobs);
}, 240_000);

afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** Without the decoders (npm test's pretest installs them as root) these tests cannot run. */
const lacking = ['ffmpeg', 'ffprobe', 'pdftoppm', 'pdfinfo', 'convert-im6.q16'].filter((p) => !whichProgram(p));
if (lacking.length) console.log(`[media] skipped: ${lacking.join(', ')} not installed (apt-get install ffmpeg poppler-utils imagemagick)`);

describe.skipIf(lacking.length > 0).each<StorageKind>(storageKinds())('every media type gets what it should (%s store)', (storage) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService(storage, { env: { RENDITION_PRESETS: PRESETS, WORKER_CONCURRENCY: '2' } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('types, measures and renders each sample', { timeout: 600_000 }, async () => {
    const problems: string[] = [];
    const summary: string[] = [];
    // A few at a time: each upload waits for its own job.
    const queue = [...samples];
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        for (let s = queue.shift(); s; s = queue.shift()) {
          const data = await fs.readFile(path.join(dir, s.name));
          const res = await svc.fetch('/v1/libraries/default/files?wait=120', {
            method: 'POST',
            body: form({ file: { name: s.name, data } }),
          });
          const id = Number(res.headers.get('x-resource-id'));
          const body = await res.text();
          if (res.status !== 204) {
            problems.push(`${s.name}: upload answered ${res.status} ${body.slice(0, 300)}`);
            continue;
          }
          const rec = (await (await svc.fetch(`/v1/resources/${id}`)).json()) as Resource;
          summary.push(
            `${s.name}=${rec.type}/${rec.mimeType} ${rec.width}x${rec.height} d=${rec.duration} p=${rec.pageCount} r=${rec.renditions.length}`,
          );
          const { duration, codec, frameRate, ...plain } = s.expect;
          const got = Object.fromEntries(Object.keys(plain).map((k) => [k, rec[k as keyof Resource]]));
          if (JSON.stringify(got) !== JSON.stringify(plain))
            problems.push(`${s.name}: expected ${JSON.stringify(plain)} but got ${JSON.stringify(got)} (${rec.error ?? ''})`);
          if (rec.status !== 'ready') problems.push(`${s.name}: ${rec.status} ${rec.error}`);
          if (duration !== undefined && !(rec.duration !== null && Math.abs(rec.duration - duration) < 0.3))
            problems.push(`${s.name}: duration ${rec.duration}, expected about ${duration}`);
          if (codec && rec.media?.videoCodec !== codec) problems.push(`${s.name}: codec ${rec.media?.videoCodec}, expected ${codec}`);
          if (frameRate && rec.media?.frameRate !== frameRate)
            problems.push(`${s.name}: frame rate ${rec.media?.frameRate}, expected ${frameRate}`);
          if (rec.renditions.length !== s.renditions)
            problems.push(`${s.name}: ${rec.renditions.length} renditions, expected ${s.renditions}`);
          for (const r of rec.renditions) {
            const img = await svc.fetch(r.url);
            const bytes = Buffer.from(await img.arrayBuffer());
            if (img.status !== 200) {
              problems.push(`${s.name}: ${r.url} answered ${img.status}`);
              continue;
            }
            const meta = await sharp(bytes).metadata();
            if (meta.width !== r.width || meta.height !== r.height)
              problems.push(`${s.name}: ${r.url} is ${meta.width}x${meta.height}, listed as ${r.width}x${r.height}`);
            // Not blank: the poster skipped the black lead-in, the decoder gave real pixels.
            if ((await spread(bytes)) < 8) problems.push(`${s.name}: ${r.url} is blank`);
          }
          if (rec.type === 'image' || rec.type === 'video' || rec.type === 'document') {
            // A size on demand goes through the same decoder.
            const od = await svc.fetch(`/image/480x480/${id}.jpg`);
            if (od.status !== 200)
              problems.push(`${s.name}: on-demand 480x480.jpg answered ${od.status} ${(await od.text()).slice(0, 200)}`);
            else await od.arrayBuffer();
          }
        }
      }),
    );
    console.log(`[media-types ${storage}] ${summary.sort().join('; ')}`);
    expect(problems).toEqual([]);
    expect(summary).toHaveLength(samples.length);
  });
});
