import { UnreadableFileError } from '../../shared/errors.js';
import { mediaKindOf } from '../../shared/media/media-types.js';
import { probeMedia } from '../media/ffprobe.js';
import { pdfInfo } from '../media/pdf-info.js';
import type { IngestStep } from './step.js';

/**
 * Video and audio: streams, displayed size, duration, codec and frame rate from ffprobe
 * (a file sniffed as video that holds only audio becomes audio, and the reverse).
 * PDF: page count from pdfinfo. Nothing is decoded here; a video declaring more pixels
 * per frame than MAX_IMAGE_PIXELS fails before a frame is.
 */
export const probeMediaStep: IngestStep = {
  name: 'probe-media',
  async run(ctx) {
    const cur = { ...ctx.record, ...ctx.patch };
    const kind = mediaKindOf(cur.mimeType);
    if (cur.type === 'video' || cur.type === 'audio') {
      const probe = await probeMedia(await ctx.localFile());
      ctx.patch.type = probe.type;
      ctx.patch.width = probe.width;
      ctx.patch.height = probe.height;
      ctx.patch.orientation = null;
      ctx.patch.duration = probe.duration;
      ctx.patch.media = probe.media;
      const max = ctx.config.images.maxPixels;
      if (probe.width && probe.height && probe.width * probe.height > max) {
        throw new UnreadableFileError(
          `The video is ${probe.width}x${probe.height}, over the decoding limit of ${(max / 1e6).toFixed(0)} megapixels per frame (MAX_IMAGE_PIXELS); it is stored but not rendered.`,
        );
      }
      return;
    }
    if (cur.type === 'document' && kind?.decoder === 'pdf') {
      const info = await pdfInfo(await ctx.localFile());
      ctx.patch.pageCount = info.pageCount;
    }
  },
};
