import fs from 'node:fs/promises';
import { mediaKindOf } from '../../shared/media/media-types.js';
import { sniffType } from '../../shared/upload/sniff.js';
import { missingPrograms } from '../imaging/source.js';
import type { IngestStep } from './step.js';

/** Bytes read from the start of the stored original: far more than the upload's sniff keeps. */
const HEAD_BYTES = 64 * 1024;
/** Bytes read from its end: a TGA 2.0 footer is 26. */
const TAIL_BYTES = 26;

/**
 * What the stored file is, from the file itself rather than the upload's first 4 KiB:
 * the whole head a container needs and the footer of formats that keep their mark at
 * the end. A better answer replaces the upload's type, MIME type and extension. A type
 * whose decoder needs a program this machine lacks (ffmpeg, pdftoppm, ImageMagick,
 * LibreOffice) is stored as a plain file, with a warning saying what to install.
 */
export const identify: IngestStep = {
  name: 'identify',
  async run(ctx) {
    const { record } = ctx;
    const file = await ctx.localFile();
    const fh = await fs.open(file, 'r');
    let head: Buffer;
    let tail: Buffer;
    try {
      const size = (await fh.stat()).size;
      head = Buffer.alloc(Math.min(HEAD_BYTES, size));
      await fh.read(head, 0, head.length, 0);
      tail = Buffer.alloc(Math.min(TAIL_BYTES, size));
      await fh.read(tail, 0, tail.length, Math.max(0, size - tail.length));
    } finally {
      await fh.close();
    }
    const sniffed = await sniffType(head, record.fileName, tail);
    const vague = sniffed.mimeType === 'application/octet-stream' || sniffed.mimeType === 'text/plain';
    let { mimeType, type } = record;
    if (sniffed.mimeType !== record.mimeType && !vague) {
      ({ mimeType, type } = sniffed);
      ctx.patch.mimeType = mimeType;
      ctx.patch.extension = sniffed.extension;
      ctx.patch.type = type;
      ctx.logger.info({ was: record.mimeType, now: mimeType }, 'stored file re-sniffed as another type');
    }
    if (type === 'file' || !mediaKindOf(mimeType)) return;
    const missing = missingPrograms(mimeType);
    if (missing.length > 0) {
      ctx.patch.type = 'file';
      ctx.warnings.push(
        `Stored as a plain file: rendering ${mimeType} needs ${missing.join(', ')}, which this server lacks (see docs/media-types.md).`,
      );
    }
  },
};
