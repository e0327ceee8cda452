/**
 * Magic numbers of the image formats file-type does not know (TGA, PCX, PNM, QOI, DDS,
 * FLI/FLC) and stricter checks of its weak ones (MPEG audio frame syncs, ICO/CUR).
 * Each check reads the header's own fields, so random bytes seldom pass.
 */

export interface OwnSniff {
  mime: string;
  ext: string;
}

const TGA_EXTENSIONS = new Set(['tga', 'tpic', 'icb', 'vda', 'vst']);
const TGA_FOOTER = Buffer.from('TRUEVISION-XFILE.\0', 'latin1');

/** Formats recognised here, or undefined. `tail`: the file's last bytes, when known. */
export function sniffImageHeader(head: Buffer, clientExt: string, tail?: Buffer): OwnSniff | undefined {
  if (head.length < 4) return undefined;
  // FLI/FLC: a 128-byte header whose magic sits after the 32-bit file size.
  if (head.length >= 128 && head[5] === 0xaf && (head[4] === 0x11 || head[4] === 0x12) && head.readUInt16LE(6) > 0) {
    return { mime: 'video/x-flic', ext: head[4] === 0x11 ? 'fli' : 'flc' };
  }
  if (head.subarray(0, 4).toString('latin1') === 'qoif' && head.length >= 14) {
    const w = head.readUInt32BE(4);
    const h = head.readUInt32BE(8);
    if (w > 0 && h > 0 && (head[12] === 3 || head[12] === 4) && head[13]! <= 1) return { mime: 'image/qoi', ext: 'qoi' };
  }
  if (head.subarray(0, 4).toString('latin1') === 'DDS ' && head.length >= 8 && head.readUInt32LE(4) === 124)
    return { mime: 'image/vnd.ms-dds', ext: 'dds' };
  const pnm = /^P([1-7])\s/.exec(head.subarray(0, 3).toString('latin1'));
  if (pnm && /^P[1-6](\s+(#[^\n]*\n)?)+\d+\s+(#[^\n]*\n\s*)?\d+\s/.test(head.subarray(0, 512).toString('latin1'))) {
    return { mime: PNM_MIME[pnm[1]!]!, ext: PNM_EXT[pnm[1]!]! };
  }
  if (pnm?.[1] === '7' && /^P7\n(#[^\n]*\n)*(WIDTH|HEIGHT|DEPTH|MAXVAL|TUPLTYPE)\s/.test(head.subarray(0, 512).toString('latin1'))) {
    return { mime: 'image/x-portable-arbitrarymap', ext: 'pam' };
  }
  if (isPcx(head)) return { mime: 'image/x-pcx', ext: 'pcx' };
  const footer =
    tail !== undefined && tail.length >= TGA_FOOTER.length && tail.subarray(tail.length - TGA_FOOTER.length).equals(TGA_FOOTER);
  if ((footer || TGA_EXTENSIONS.has(clientExt)) && isTgaHeader(head)) return { mime: 'image/x-tga', ext: 'tga' };
  return undefined;
}

const PNM_MIME: Record<string, string> = {
  '1': 'image/x-portable-bitmap',
  '4': 'image/x-portable-bitmap',
  '2': 'image/x-portable-graymap',
  '5': 'image/x-portable-graymap',
  '3': 'image/x-portable-pixmap',
  '6': 'image/x-portable-pixmap',
};
const PNM_EXT: Record<string, string> = { '1': 'pbm', '4': 'pbm', '2': 'pgm', '5': 'pgm', '3': 'ppm', '6': 'ppm' };

function isPcx(h: Buffer): boolean {
  if (h.length < 128 || h[0] !== 0x0a || ![0, 2, 3, 4, 5].includes(h[1]!) || h[2]! > 1 || ![1, 2, 4, 8].includes(h[3]!)) return false;
  const [xmin, ymin, xmax, ymax] = [h.readUInt16LE(4), h.readUInt16LE(6), h.readUInt16LE(8), h.readUInt16LE(10)];
  const planes = h[65]!;
  return xmax >= xmin && ymax >= ymin && planes >= 1 && planes <= 4 && h[64] === 0 && h.readUInt16LE(66) > 0;
}

/** A TGA header: no magic number, so every field must hold one of its few legal values. */
function isTgaHeader(h: Buffer): boolean {
  if (h.length < 18) return false;
  const cmapType = h[1]!;
  const imageType = h[2]!;
  const depth = h[16]!;
  const width = h.readUInt16LE(12);
  const height = h.readUInt16LE(14);
  if (cmapType > 1 || ![1, 2, 3, 9, 10, 11].includes(imageType) || ![8, 15, 16, 24, 32].includes(depth)) return false;
  if ((imageType === 1 || imageType === 9) !== (cmapType === 1)) return false;
  if (cmapType === 1 && ![15, 16, 24, 32].includes(h[7]!)) return false;
  return width > 0 && height > 0 && (h[17]! & 0xc0) === 0;
}

/** An ICO/CUR directory: a count, and entries that point past the directory at images of some size. */
export function validIcon(h: Buffer): boolean {
  if (h.length < 22) return false;
  const count = h.readUInt16LE(4);
  if (count === 0 || count > 256) return false;
  const dirEnd = 6 + 16 * count;
  for (let i = 0; i < Math.min(count, Math.floor((h.length - 6) / 16)); i++) {
    const e = 6 + 16 * i;
    if (h[e + 3] !== 0 && h[e + 3] !== 0xff) return false;
    const size = h.readUInt32LE(e + 8);
    const offset = h.readUInt32LE(e + 12);
    if (size < 40 || offset < dirEnd) return false;
  }
  return true;
}

const BITRATES_V1 = [
  [],
  [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
];
const BITRATES_V2 = [
  [],
  [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];
const SAMPLE_RATES: Record<number, number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

/**
 * An MPEG audio or ADTS stream: the frame at offset 0 is followed by another frame sync
 * exactly where its header says it ends (or the head ends first).
 */
export function validMpegAudio(h: Buffer): boolean {
  const len = frameLength(h, 0);
  if (len === undefined) return false;
  if (len + 2 > h.length) return h.length < 2048;
  return h[len] === 0xff && (h[len + 1]! & 0xe0) === 0xe0 && frameLength(h, len) !== undefined;
}

function frameLength(h: Buffer, o: number): number | undefined {
  if (o + 7 > h.length || h[o] !== 0xff || (h[o + 1]! & 0xe0) !== 0xe0) return undefined;
  const version = (h[o + 1]! >> 3) & 3;
  const layerBits = (h[o + 1]! >> 1) & 3;
  if (layerBits === 0) {
    // ADTS (AAC): a 13-bit frame length in the header.
    const adts = ((h[o + 3]! & 3) << 11) | (h[o + 4]! << 3) | (h[o + 5]! >> 5);
    return adts >= 7 ? adts : undefined;
  }
  if (version === 1) return undefined;
  const layer = 4 - layerBits;
  const brIndex = h[o + 2]! >> 4;
  const srIndex = (h[o + 2]! >> 2) & 3;
  if (brIndex === 0 || brIndex === 15 || srIndex === 3) return undefined;
  const bitrate = (version === 3 ? BITRATES_V1[layer]! : BITRATES_V2[layer === 1 ? 1 : 2]!)[brIndex]! * 1000;
  const rate = SAMPLE_RATES[version]![srIndex]!;
  const pad = (h[o + 2]! >> 1) & 1;
  if (layer === 1) return (Math.floor((12 * bitrate) / rate) + pad) * 4;
  const perFrame = layer === 3 && version !== 3 ? 72 : 144;
  return Math.floor((perFrame * bitrate) / rate) + pad;
}
