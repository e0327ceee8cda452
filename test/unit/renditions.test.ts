// Presets, sizes, signed image URLs and byte ranges: the parsing and the messages.
import { describe, expect, it } from 'vitest';
import { parseRange } from '../../api/routes/images.js';
import { loadConfig, type ConfigError } from '../../shared/config.js';
import {
  DEFAULT_PRESETS_SPEC,
  effectivePresets,
  normaliseLibraryPresets,
  onDemandSpec,
  parsePresetSpec,
  parseSizes,
} from '../../shared/renditions/presets.js';
import { checkImageSignature, signedImageUrl } from '../../shared/renditions/signing.js';

const problemsOf = (env: Record<string, string>) => {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    return (err as ConfigError).problems;
  }
};

describe('presets', () => {
  it('defaults to thumbnail, small, medium and large in WebP', () => {
    const { presets, problems } = parsePresetSpec(DEFAULT_PRESETS_SPEC, 4096);
    expect(problems).toEqual([]);
    expect(presets.map((p) => `${p.name} ${p.width}x${p.height} ${p.fit} ${p.format} q${p.quality}`)).toEqual([
      'thumbnail 200x200 cover webp q75',
      'small 480x480 inside webp q80',
      'medium 1024x1024 inside webp q80',
      'large 2048x2048 inside webp q82',
    ]);
    expect(loadConfig({}).images.presets).toEqual(presets);
  });

  it('parses fit, format (jpg = jpeg), quality and upscale, with defaults for what is left out', () => {
    const { presets } = parsePresetSpec('a:100x0,b:0x50:cover:jpg,c:10x10:fill:png:90:upscale', 4096);
    expect(presets).toEqual([
      { name: 'a', width: 100, height: 0, fit: 'inside', format: 'webp', quality: 80, upscale: false },
      { name: 'b', width: 0, height: 50, fit: 'cover', format: 'jpeg', quality: 82, upscale: false },
      { name: 'c', width: 10, height: 10, fit: 'fill', format: 'png', quality: 90, upscale: true },
    ]);
  });

  it('reports every problem of RENDITION_PRESETS at once, saying what was expected', () => {
    expect(
      problemsOf({ RENDITION_PRESETS: 'x:big,Y:10x10:squash:gif:0,z:0x0,w:10x10,v:10x10:inside:webp', IMAGE_URL_SECRET: 'short' }),
    ).toEqual([
      'RENDITION_PRESETS: expected "x" to have a size like 200x200 but received "big" (in "x:big").',
      'RENDITION_PRESETS: expected a preset name of 1-32 characters a-z 0-9 _ - but received "Y".',
      'RENDITION_PRESETS: expected fit of "Y" to be one of cover, contain, fill, inside, outside but received "squash".',
      'RENDITION_PRESETS: expected format of "Y" to be one of webp, jpeg, png, avif but received "gif".',
      'RENDITION_PRESETS: expected quality of "Y" to be an integer from 1 to 100 but received 0.',
      'RENDITION_PRESETS: "z" has size 0x0; at least one of width and height must be set (0x0 is the original).',
      'RENDITION_PRESETS: "v" and "w" both render 10x10 as webp; they would share one URL.',
      'IMAGE_URL_SECRET must be at least 32 characters (e.g. `openssl rand -hex 32`); it has 5',
    ]);
    expect(problemsOf({ RENDITION_PRESETS: 'huge:5000x10', IMAGE_SIZES: '10x10,0x0,abc,9999x1' })).toEqual([
      'RENDITION_PRESETS: expected width of "huge" to be an integer from 0 to 4096 (IMAGE_MAX_DIMENSION) but received 5000.',
      'IMAGE_SIZES: expected sizes like 300x0 or 640x480 (each dimension 0-4096, not both 0) but received "0x0".',
      'IMAGE_SIZES: expected sizes like 300x0 or 640x480 (each dimension 0-4096, not both 0) but received "abc".',
      'IMAGE_SIZES: expected sizes like 300x0 or 640x480 (each dimension 0-4096, not both 0) but received "9999x1".',
    ]);
  });

  it('lets a library name global presets or define its own, and uses the global set when it has none', () => {
    const global = parsePresetSpec(DEFAULT_PRESETS_SPEC, 4096).presets;
    const own = normaliseLibraryPresets(['small', { name: 'hero', width: 1600, format: 'jpg' }], global, 4096);
    expect(own.problems).toEqual([]);
    expect(effectivePresets({ presets: own.presets }, global).map((p) => `${p.name}:${p.width}x${p.height}:${p.format}`)).toEqual([
      'small:480x480:webp',
      'hero:1600x0:jpeg',
    ]);
    expect(effectivePresets({ presets: [] }, global)).toEqual(global);
    expect(normaliseLibraryPresets('small', global, 4096).problems).toEqual([
      'Expected presets to be an array of preset names or preset objects.',
    ]);
    expect(normaliseLibraryPresets([{ name: 'x', width: 10, height: 10, quality: 101 }], global, 4096).problems).toEqual([
      'presets: expected quality of "x" to be an integer from 1 to 100 but received 101.',
    ]);
  });

  it('renders an on-demand size by the preset with that box and format, else inside the box without enlarging', () => {
    const global = parsePresetSpec(DEFAULT_PRESETS_SPEC, 4096).presets;
    expect(onDemandSpec(200, 200, 'webp', global).fit).toBe('cover');
    expect(onDemandSpec(200, 200, 'jpeg', global)).toEqual({
      name: '200x200',
      width: 200,
      height: 200,
      fit: 'inside',
      format: 'jpeg',
      quality: 82,
      upscale: false,
    });
    expect(parseSizes('300x0, 0x150', 4096).sizes).toEqual([
      { width: 300, height: 0 },
      { width: 0, height: 150 },
    ]);
  });
});

describe('signed image URLs', () => {
  const secret = 's'.repeat(32);
  it('accepts its own signature until it expires, and nothing else', () => {
    const now = Date.UTC(2026, 0, 1);
    const url = signedImageUrl('/image/300x0/7.webp', 60, secret, now);
    const q = new URL(url, 'http://x').searchParams;
    expect(url).toMatch(/^\/image\/300x0\/7\.webp\?exp=\d+&sig=[0-9a-f]{64}$/);
    expect(checkImageSignature('/image/300x0/7.webp', q.get('exp')!, q.get('sig')!, secret, now)).toBe('valid');
    expect(checkImageSignature('/image/300x0/7.webp', q.get('exp')!, q.get('sig')!, secret, now + 61_000)).toBe('expired');
    expect(checkImageSignature('/image/301x0/7.webp', q.get('exp')!, q.get('sig')!, secret, now)).toBe('invalid');
    expect(checkImageSignature('/image/300x0/7.webp', String(Number(q.get('exp')) + 1000), q.get('sig')!, secret, now)).toBe('invalid');
    expect(checkImageSignature('/image/300x0/7.webp', q.get('exp')!, q.get('sig')!, 't'.repeat(32), now)).toBe('invalid');
    expect(checkImageSignature('/image/300x0/7.webp', 'x', 'y', secret, now)).toBe('invalid');
  });
});

describe('Range', () => {
  it.each([
    ['bytes=0-9', { start: 0, end: 9 }],
    ['bytes=90-', { start: 90, end: 99 }],
    ['bytes=-10', { start: 90, end: 99 }],
    ['bytes=-1000', { start: 0, end: 99 }],
    ['bytes=50-5000', { start: 50, end: 99 }],
    ['bytes=100-', 'unsatisfiable'],
    ['bytes=-0', 'unsatisfiable'],
    ['bytes=5-1', undefined],
    ['bytes=0-1,5-6', undefined],
    ['items=0-1', undefined],
  ] as const)('%s of 100 bytes → %j', (header, expected) => {
    expect(parseRange(header, 100)).toEqual(expected);
  });
});
