import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

const run = promisify(execFile);

/** A random integer in [lo, hi], even when `even` (video encoders want even sizes). */
export function rand(lo: number, hi: number, even = false): number {
  const n = lo + Math.floor(Math.random() * (hi - lo + 1));
  return even ? n - (n % 2) : n;
}

export async function ffmpeg(args: string[]): Promise<void> {
  await run('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...args], { timeout: 120_000 });
}

/** ImageMagick 6 by its Debian name (a plain `convert` on PATH may be another tool). */
export async function magick(args: string[]): Promise<void> {
  await run('convert-im6.q16', args, { timeout: 120_000 });
}

/**
 * A clip of `seconds`: half a second of black (a fade-in a poster frame must skip), then
 * ffmpeg's moving test pattern; optionally rotated by the container's display matrix.
 */
export async function makeVideo(
  file: string,
  o: { width: number; height: number; seconds: number; codec: 'h264' | 'vp9' | 'vp8'; rotate?: number; audio?: boolean },
): Promise<void> {
  const tmp = o.rotate ? `${file}.unrotated${path.extname(file)}` : file;
  const codec =
    o.codec === 'h264'
      ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p']
      : ['-c:v', o.codec === 'vp9' ? 'libvpx-vp9' : 'libvpx', '-deadline', 'realtime', '-b:v', '300k'];
  const s = `${o.width}x${o.height}`;
  await ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `color=black:s=${s}:d=0.5:r=25`,
    '-f',
    'lavfi',
    '-i',
    `testsrc2=s=${s}:d=${o.seconds - 0.5}:r=25`,
    ...(o.audio ? ['-f', 'lavfi', '-i', `sine=frequency=440:duration=${o.seconds}`] : []),
    '-filter_complex',
    '[0][1]concat=n=2:v=1:a=0[v]',
    '-map',
    '[v]',
    ...(o.audio ? ['-map', '2:a'] : []),
    ...codec,
    ...(o.audio ? ['-c:a', o.codec === 'h264' ? 'aac' : 'libopus'] : []),
    tmp,
  ]);
  if (o.rotate) {
    // ffmpeg 5 writes the `rotate` tag of a stream copy as the track's display matrix.
    await ffmpeg(['-i', tmp, '-c', 'copy', '-metadata:s:v:0', `rotate=${o.rotate}`, file]);
    await fs.rm(tmp);
  }
}

export async function makeAudio(file: string, o: { seconds: number; codec: string[]; cover?: string }): Promise<void> {
  await ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=330:duration=${o.seconds}`,
    ...(o.cover ? ['-i', o.cover, '-map', '0:a', '-map', '1:v', '-c:v', 'png', '-disposition:v:0', 'attached_pic'] : []),
    ...o.codec,
    file,
  ]);
}

/**
 * A PDF of `pages` pages of `width`×`height` points, each with a coloured box, written
 * out by hand (ImageMagick's PDF writer is off in Debian's policy, and this keeps every
 * byte known). `declaredPages` lies in the page tree's /Count when given.
 */
export function makePdf(o: { pages: number; width: number; height: number; declaredPages?: number }): Buffer {
  const objects: string[] = [];
  const kids: number[] = [];
  const first = 3;
  for (let i = 0; i < o.pages; i++) {
    const page = first + i * 2;
    const content = page + 1;
    kids.push(page);
    const box = `${((i * 37) % 255) / 255} 0.4 0.7 rg 20 20 ${o.width - 40} ${o.height / 2} re f 0 0 0 rg 40 ${o.height - 80} 60 40 re f`;
    objects[page] = `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${o.width} ${o.height}] /Contents ${content} 0 R >>`;
    objects[content] = `<< /Length ${box.length} >>\nstream\n${box}\nendstream`;
  }
  objects[1] = '<< /Type /Catalog /Pages 2 0 R >>';
  objects[2] = `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${o.declaredPages ?? o.pages} >>`;
  let out = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  for (let n = 1; n < objects.length; n++) {
    offsets[n] = Buffer.byteLength(out, 'latin1');
    out += `${n} 0 obj\n${objects[n]}\nendobj\n`;
  }
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length}\n0000000000 65535 f \n`;
  for (let n = 1; n < objects.length; n++) out += `${String(offsets[n]).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** A colourful test picture as PNG (gradient and shapes: nothing a blank check could mistake). */
export async function makePicture(width: number, height: number): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="#e33"/><stop offset="1" stop-color="#33e"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/><circle cx="${width / 3}" cy="${height / 2}" r="${Math.min(width, height) / 4}" fill="#ff0"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** Standard deviation over all channels of an encoded image: near 0 means blank. */
export async function spread(image: Buffer): Promise<number> {
  const s = await sharp(image).stats();
  return Math.max(...s.channels.slice(0, 3).map((c) => c.stdev));
}
