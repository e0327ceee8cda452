/**
 * Camera RAW formats (as file-type names them). libvips would read the TIFF structure
 * of most of them and render the sensor data or a tiny IFD0 thumbnail, so renditions
 * come from the JPEG the camera embedded instead (exiftool extracts it).
 */
export const RAW_MIME_TYPES: readonly string[] = [
  'image/x-canon-cr2',
  'image/x-canon-cr3',
  'image/x-nikon-nef',
  'image/x-sony-arw',
  'image/x-adobe-dng',
  'image/x-olympus-orf',
  'image/x-panasonic-rw2',
  'image/x-fujifilm-raf',
];

/**
 * HEIF containers. AVIF (AV1) decodes with sharp's prebuilt libvips; HEIC from phones
 * is HEVC, which the prebuilt binaries leave out (patents), so those need a fallback.
 */
export const HEIF_MIME_TYPES: readonly string[] = ['image/heic', 'image/heif'];

/** Originals whose bytes a browser must never interpret as a page from our origin. */
export const ACTIVE_CONTENT_MIME =
  /^(image\/svg\+xml|text\/html|application\/xhtml\+xml|application\/xml|text\/xml|application\/javascript|text\/javascript)\b/i;
