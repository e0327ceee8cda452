/**
 * Baseline of the renditions-ingest bench: the same renditions made the obvious way with
 * sharp, from local files, with nothing around it — per image and preset
 * `sharp(file).autoOrient().resize(box).webp().toFile()`, BENCH_CONCURRENCY images at
 * once, sharp's default settings. Prints {"seconds": …} of the renders alone.
 *
 * Env: BENCH_FILES (JSON array of paths), BENCH_OUT_DIR, BENCH_CONCURRENCY, BENCH_PRESETS (JSON).
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import type { RenditionPreset } from '../../shared/model.js';

const files = JSON.parse(process.env.BENCH_FILES ?? '[]') as string[];
const presets = JSON.parse(process.env.BENCH_PRESETS ?? '[]') as RenditionPreset[];
const out = process.env.BENCH_OUT_DIR!;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 2);

async function renderAll(file: string, i: number) {
  for (const p of presets) {
    await sharp(file)
      .autoOrient()
      .resize({ width: p.width || undefined, height: p.height || undefined, fit: p.fit, withoutEnlargement: !p.upscale })
      .webp({ quality: p.quality })
      .toFile(path.join(out, `${i}-${p.name}.webp`));
  }
}

const t0 = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < files.length) {
      const i = next++;
      await renderAll(files[i]!, i);
    }
  }),
);
console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, sharpConcurrency: sharp.concurrency() }));
