import sharp, { type Metadata } from 'sharp';
import { UnreadableFileError } from '../../shared/errors.js';
import { mediaKindOf } from '../../shared/media/media-types.js';
import type { IngestStep } from './step.js';

/**
 * Width, height and orientation from the image header — no pixels decoded, so a pixel
 * bomb costs nothing here. Dimensions are as displayed: EXIF orientations 5-8 rotate
 * by 90°, so width and height swap. Only for types sharp reads itself: RAW is measured
 * from its embedded preview, and formats a converter decodes by the converter's output
 * (both in the renditions step). A TIFF header sharp cannot read is left to ImageMagick.
 */
export const probeImage: IngestStep = {
  name: 'probe-image',
  async run(ctx) {
    const cur = { ...ctx.record, ...ctx.patch };
    const decoder = mediaKindOf(cur.mimeType)?.decoder;
    if (cur.type !== 'image' || (decoder !== 'sharp' && decoder !== 'tiff' && decoder !== 'heif')) return;
    const file = await ctx.localFile();
    let meta: Metadata;
    try {
      meta = await sharp(file, { failOn: 'none', limitInputPixels: false }).metadata();
    } catch (err) {
      if (decoder === 'tiff') return;
      throw new UnreadableFileError(`The image header could not be read: ${(err as Error).message}`, { cause: err });
    }
    if (!meta.width || !meta.height) {
      throw new UnreadableFileError(
        `The image declares no usable dimensions (width ${meta.width ?? 'missing'}, height ${meta.height ?? 'missing'}).`,
      );
    }
    const orientation = meta.orientation && meta.orientation >= 1 && meta.orientation <= 8 ? meta.orientation : null;
    const swap = orientation !== null && orientation >= 5;
    ctx.patch.width = swap ? meta.height : meta.width;
    ctx.patch.height = swap ? meta.width : meta.height;
    ctx.patch.orientation = orientation;
  },
};
