import type { Library, RenditionFit, RenditionFormat, RenditionPreset } from '../model.js';

/**
 * Rendition presets: what is pre-rendered at ingest, and how a size asked for on demand
 * is rendered. A preset is addressed by its box and format — `/image/200x200/7.webp` —
 * so two presets of one library may not share both.
 */

export const FITS: readonly RenditionFit[] = ['cover', 'contain', 'fill', 'inside', 'outside'];
export const FORMATS: readonly RenditionFormat[] = ['webp', 'jpeg', 'png', 'avif'];

/** Qualities when a preset or an on-demand size names none: visually clean, small files. */
export const DEFAULT_QUALITY: Record<RenditionFormat, number> = { webp: 80, jpeg: 82, png: 100, avif: 55 };

/**
 * The default set: a square thumbnail (cropped) and three bounded sizes, in WebP, which
 * every current browser shows and which is about 30 % smaller than JPEG at equal quality.
 * Add JPEG presets (e.g. `large-jpeg:2048x2048:inside:jpeg:85`) where clients need it.
 */
export const DEFAULT_PRESETS_SPEC =
  'thumbnail:200x200:cover:webp:75,small:480x480:inside:webp:80,medium:1024x1024:inside:webp:80,large:2048x2048:inside:webp:82';

const NAME = /^[a-z0-9_-]{1,32}$/;

/** File extension of each output format, as used in `/image/…/{id}.{ext}` and in storage keys. */
export function extensionOfFormat(format: RenditionFormat): string {
  return format === 'jpeg' ? 'jpg' : format;
}

/** The output format an `/image` URL's extension asks for, or undefined. */
export function formatOfExtension(ext: string): RenditionFormat | undefined {
  const e = ext.toLowerCase();
  if (e === 'jpg' || e === 'jpeg') return 'jpeg';
  return (FORMATS as readonly string[]).includes(e) ? (e as RenditionFormat) : undefined;
}

/**
 * `name:WIDTHxHEIGHT[:fit[:format[:quality[:upscale]]]]`, comma-separated, e.g.
 * `thumbnail:200x200:cover:webp:75,hero:1920x0:inside:jpeg:85:upscale`.
 * @returns the presets, or the problems found (each says what was expected)
 */
export function parsePresetSpec(
  spec: string,
  maxDimension: number,
  label = 'RENDITION_PRESETS',
): { presets: RenditionPreset[]; problems: string[] } {
  const problems: string[] = [];
  const presets: RenditionPreset[] = [];
  for (const item of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name = '', size = '', fit = 'inside', format = 'webp', quality, upscale] = item.split(':');
    const m = /^(\d{1,5})x(\d{1,5})$/.exec(size);
    const preset: RenditionPreset = {
      name,
      width: m ? Number(m[1]) : NaN,
      height: m ? Number(m[2]) : NaN,
      fit: fit as RenditionFit,
      format: (formatOfExtension(format) ?? format) as RenditionFormat,
      quality: quality === undefined || quality === '' ? NaN : Number(quality),
      upscale: upscale === 'upscale',
    };
    if (!m) problems.push(`${label}: expected "${name}" to have a size like 200x200 but received "${size}" (in "${item}").`);
    if (upscale !== undefined && upscale !== 'upscale')
      problems.push(`${label}: expected "upscale" or nothing after the quality but received "${upscale}" (in "${item}").`);
    if (Number.isNaN(preset.quality)) preset.quality = DEFAULT_QUALITY[preset.format] ?? 80;
    if (m) presets.push(preset);
  }
  if (presets.length === 0 && problems.length === 0 && spec.trim() !== '') problems.push(`${label}: no preset found in "${spec}".`);
  problems.push(...validatePresets(presets, maxDimension, label));
  return { presets, problems };
}

/** Every problem of a list of complete presets, with what was expected and what came. */
export function validatePresets(presets: RenditionPreset[], maxDimension: number, label: string): string[] {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  const names = new Set<string>();
  for (const p of presets) {
    const n = JSON.stringify(p.name);
    if (typeof p.name !== 'string' || !NAME.test(p.name))
      problems.push(`${label}: expected a preset name of 1-32 characters a-z 0-9 _ - but received ${n}.`);
    if (names.has(p.name)) problems.push(`${label}: the preset name ${n} is used twice.`);
    names.add(p.name);
    for (const dim of ['width', 'height'] as const) {
      const v = p[dim];
      if (!Number.isInteger(v) || v < 0 || v > maxDimension) {
        problems.push(
          `${label}: expected ${dim} of ${n} to be an integer from 0 to ${maxDimension} (IMAGE_MAX_DIMENSION) but received ${JSON.stringify(v)}.`,
        );
      }
    }
    if (p.width === 0 && p.height === 0)
      problems.push(`${label}: ${n} has size 0x0; at least one of width and height must be set (0x0 is the original).`);
    if (!FITS.includes(p.fit))
      problems.push(`${label}: expected fit of ${n} to be one of ${FITS.join(', ')} but received ${JSON.stringify(p.fit)}.`);
    if (!FORMATS.includes(p.format))
      problems.push(`${label}: expected format of ${n} to be one of ${FORMATS.join(', ')} but received ${JSON.stringify(p.format)}.`);
    if (!Number.isInteger(p.quality) || p.quality < 1 || p.quality > 100) {
      problems.push(`${label}: expected quality of ${n} to be an integer from 1 to 100 but received ${JSON.stringify(p.quality)}.`);
    }
    if (typeof p.upscale !== 'boolean')
      problems.push(`${label}: expected upscale of ${n} to be true or false but received ${JSON.stringify(p.upscale)}.`);
    const url = `${p.width}x${p.height}.${p.format}`;
    const other = seen.get(url);
    if (other !== undefined)
      problems.push(
        `${label}: ${n} and ${JSON.stringify(other)} both render ${p.width}x${p.height} as ${p.format}; they would share one URL.`,
      );
    seen.set(url, p.name);
  }
  return problems;
}

/**
 * A library's `presets` as sent by a client: names of global presets, or presets of its
 * own (missing fit/format/quality/upscale take the defaults). Throws nothing; returns
 * the normalised list and the problems.
 */
export function normaliseLibraryPresets(
  input: unknown,
  global: readonly RenditionPreset[],
  maxDimension: number,
): { presets: (string | RenditionPreset)[]; problems: string[] } {
  if (input === undefined || input === null) return { presets: [], problems: [] };
  if (!Array.isArray(input)) return { presets: [], problems: ['Expected presets to be an array of preset names or preset objects.'] };
  const problems: string[] = [];
  const out: (string | RenditionPreset)[] = [];
  for (const item of input) {
    if (typeof item === 'string') {
      if (!global.some((g) => g.name === item)) {
        problems.push(
          `Expected presets to name global presets (${global.map((g) => g.name).join(', ') || 'none configured'}) but received ${JSON.stringify(item)}.`,
        );
      }
      out.push(item);
    } else if (item && typeof item === 'object' && !Array.isArray(item)) {
      const o = item as Partial<RenditionPreset>;
      const format = (typeof o.format === 'string' ? (formatOfExtension(o.format) ?? o.format) : 'webp') as RenditionFormat;
      out.push({
        name: o.name as string,
        width: o.width ?? 0,
        height: o.height ?? 0,
        fit: o.fit ?? 'inside',
        format,
        quality: o.quality ?? DEFAULT_QUALITY[format] ?? 80,
        upscale: o.upscale ?? false,
      });
    } else {
      problems.push(
        `Expected each preset to be a name or an object like {"name":"hero","width":1920,"height":0} but received ${JSON.stringify(item)}.`,
      );
    }
  }
  problems.push(...validatePresets(resolvePresets(out, global), maxDimension, 'presets'));
  return { presets: out, problems };
}

/** Names resolved against the global set (unknown names dropped). */
function resolvePresets(list: readonly (string | RenditionPreset)[], global: readonly RenditionPreset[]): RenditionPreset[] {
  return list.flatMap((p) => (typeof p === 'string' ? global.filter((g) => g.name === p) : [p]));
}

/** What is pre-rendered for a resource of `library`: its own list, or the global set when it has none. */
export function effectivePresets(library: Pick<Library, 'presets'> | undefined, global: readonly RenditionPreset[]): RenditionPreset[] {
  const own = library?.presets ?? [];
  return own.length === 0 ? [...global] : resolvePresets(own, global);
}

/**
 * How a size asked for on demand is rendered: by the preset with that box and format
 * when there is one, else bounded by both dimensions (`inside`) — never cropped, never
 * enlarged. `0` in one dimension keeps the aspect ratio.
 */
export function onDemandSpec(width: number, height: number, format: RenditionFormat, presets: readonly RenditionPreset[]): RenditionPreset {
  const preset = presets.find((p) => p.width === width && p.height === height && p.format === format);
  if (preset) return preset;
  return { name: `${width}x${height}`, width, height, fit: 'inside', format, quality: DEFAULT_QUALITY[format], upscale: false };
}

/** `WxH` strings, comma-separated (IMAGE_SIZES). */
export function parseSizes(spec: string, maxDimension: number): { sizes: { width: number; height: number }[]; problems: string[] } {
  const sizes: { width: number; height: number }[] = [];
  const problems: string[] = [];
  for (const item of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d{1,5})x(\d{1,5})$/.exec(item);
    if (!m || Number(m[1]) > maxDimension || Number(m[2]) > maxDimension || (m[1] === '0' && m[2] === '0')) {
      problems.push(
        `IMAGE_SIZES: expected sizes like 300x0 or 640x480 (each dimension 0-${maxDimension}, not both 0) but received "${item}".`,
      );
      continue;
    }
    sizes.push({ width: Number(m[1]), height: Number(m[2]) });
  }
  return { sizes, problems };
}
