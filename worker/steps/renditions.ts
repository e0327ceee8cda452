import type { Rendition } from '../../shared/model.js';
import { hasRenditions } from '../../shared/media/media-types.js';
import { effectivePresets, extensionOfFormat } from '../../shared/renditions/presets.js';
import { renditionKey } from '../../shared/storage/layout.js';
import { renderPresets, sourceSideFor } from '../imaging/render.js';
import { withDecodableSource } from '../imaging/source.js';
import type { IngestStep } from './step.js';

/**
 * Pre-renders the presets of the resource's library (or the global set) and lists them
 * on the record: from the image itself, a video's poster frame, a document's first page
 * or an audio file's cover art (the decoder table decides how). Idempotent: keys are
 * fixed per box and format of a file version, so a re-run overwrites what an
 * interrupted run left. Decoding fails → the job fails with the reason (pixel bomb,
 * truncated or corrupt data); the original stays stored.
 */
export const renditions: IngestStep = {
  name: 'renditions',
  async run(ctx) {
    const { record, config } = ctx;
    const cur = { ...record, ...ctx.patch };
    if (!hasRenditions(cur)) {
      ctx.patch.renditions = [];
      return;
    }
    const library = await ctx.catalog.findLibrary(record.library);
    const presets = effectivePresets(library, config.images.presets);
    if (presets.length === 0) {
      ctx.patch.renditions = [];
      return;
    }
    const file = await ctx.localFile();
    const maxSide = sourceSideFor(presets, config.images.maxDimension);
    const { source, renditions: rendered } = await withDecodableSource(
      file,
      { mimeType: cur.mimeType, duration: cur.duration, maxSide },
      async (src) => {
        if (src.via !== 'original') ctx.logger.info({ via: src.via }, 'renditions made through the decoder table');
        if (src.via === 'preview') {
          ctx.warnings.push(
            'Renditions were made from the preview JPEG embedded in the file; its full-resolution image data cannot be decoded here.',
          );
        }
        ctx.warnings.push(...src.warnings);
        if (src.pageCount) ctx.patch.pageCount = src.pageCount;
        return renderPresets(src.input, presets, { maxPixels: config.images.maxPixels });
      },
    );
    const list: Rendition[] = [];
    for (const r of rendered) {
      const ext = extensionOfFormat(r.preset.format);
      const key = renditionKey(record.id, record.fileVersion, r.preset.width, r.preset.height, ext);
      await ctx.store.put(key, r.data, { contentType: `image/${r.preset.format}` });
      list.push({
        name: r.preset.name,
        width: r.width,
        height: r.height,
        format: r.preset.format,
        size: r.data.length,
        url: `/image/${r.preset.width}x${r.preset.height}/${record.id}.${ext}`,
      });
    }
    ctx.patch.renditions = list;
    // RAW is not measured by probe-image (its TIFF structure would give the sensor's or
    // a thumbnail's size): the embedded preview's is the best there is.
    if (cur.type === 'image' && ctx.patch.width == null && record.width == null) {
      ctx.patch.width = source.width;
      ctx.patch.height = source.height;
    }
  },
};
