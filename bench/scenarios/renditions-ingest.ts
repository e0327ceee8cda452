import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { loadConfig } from '../../shared/config.js';
import { JEMALLOC, mkdirp, photoJpeg, stageFiles, startStack, variantOf, waitReady } from '../lib/images.js';
import { procStats, benchTempDir, spawnTs } from '../lib/proc.js';
import type { Check, Scenario, ScenarioResult, VariantResult } from '../scenario.js';
import { envInt } from '../lib/params.js';

const execFileP = promisify(execFile);

interface Run {
  seconds: number;
  peakRssMiB?: number;
  cpuSeconds?: number;
}

export const renditionsIngest: Scenario = {
  name: 'renditions-ingest',
  description:
    'Ingest of 24-megapixel JPEGs with the default presets (thumbnail, small, medium, large in WebP): the media-ingest worker ' +
    '(whole ingest job, jemalloc as in the Docker image; and on plain glibc malloc) against a bare sharp script making the ' +
    'same renditions from local files, and against vipsthumbnail (Debian libvips-tools) producing the same sizes.',

  async run(): Promise<ScenarioResult> {
    const count = envInt('BENCH_IMAGES', 6);
    const width = envInt('BENCH_WIDTH', 6000);
    const height = envInt('BENCH_HEIGHT', 4000);
    const cores = Math.max(1, os.availableParallelism());
    const presets = loadConfig({}).images.presets;
    const { dir: root, remove } = await benchTempDir('mi-bench-renditions-');
    try {
      process.stdout.write(`   making ${count} photos of ${width}x${height} … `);
      const base = await photoJpeg(width, height);
      const src = await mkdirp(path.join(root, 'src'));
      const files: string[] = [];
      for (let i = 0; i < count; i++) {
        const f = path.join(src, `photo-${i}.jpg`);
        await fs.writeFile(f, variantOf(base, i));
        files.push(f);
      }
      console.log(`${(base.length / 1024 / 1024).toFixed(1)} MiB each`);

      const step = async (name: string, fn: () => Promise<Run>) => {
        process.stdout.write(`   ${name.padEnd(28)} `);
        const r = await fn();
        console.log(`${r.seconds.toFixed(2)} s, ${(count / r.seconds).toFixed(2)} images/s`);
        return r;
      };

      const bare = await step('bare sharp script', async () => {
        const out = await mkdirp(path.join(root, 'bare'));
        const child = spawnTs('bench/servers/bare-renders.ts', {
          env: {
            BENCH_FILES: JSON.stringify(files),
            BENCH_OUT_DIR: out,
            BENCH_CONCURRENCY: String(cores),
            BENCH_PRESETS: JSON.stringify(presets),
            LD_PRELOAD: JEMALLOC ?? '',
          },
        });
        const code = await new Promise<number | null>((r) => child.proc.once('exit', r));
        if (code !== 0) throw new Error(`bare-renders failed: ${child.output()}`);
        return { seconds: (JSON.parse(child.output().trim().split('\n').pop()!) as { seconds: number }).seconds };
      });

      const vips = await step('vipsthumbnail', async () => {
        const out = await mkdirp(path.join(root, 'vips'));
        const tasks = files.flatMap((f, i) =>
          presets.map((p) => [
            f,
            '--size',
            `${p.width || ''}x${p.height || ''}`,
            ...(p.fit === 'cover' ? ['--smartcrop', 'attention'] : []),
            '-o',
            path.join(out, `${i}-${p.name}.webp[Q=${p.quality}]`),
          ]),
        );
        const t0 = performance.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: cores }, async () => {
            while (next < tasks.length) await execFileP('vipsthumbnail', tasks[next++]!);
          }),
        );
        return { seconds: (performance.now() - t0) / 1000 };
      });

      const ingest = (jemalloc: boolean) => async (): Promise<Run> => {
        const dir = await mkdirp(path.join(root, jemalloc ? 'mi-jemalloc' : 'mi-glibc'));
        const stack = await startStack(dir, { worker: { jemalloc }, env: { WORKER_CONCURRENCY: String(cores) } });
        try {
          const staged = await stageFiles(stack, files);
          const before = procStats(stack.worker!.pid);
          const t0 = performance.now();
          const recs = await staged.commit();
          const done = await waitReady(
            stack,
            recs.map((r) => r.id),
          );
          const seconds = (performance.now() - t0) / 1000;
          const after = procStats(stack.worker!.pid);
          const bad = done.find((r) => r.renditions.length !== presets.length);
          if (bad) throw new Error(`resource ${bad.id} has ${bad.renditions.length} renditions, expected ${presets.length}`);
          return { seconds, peakRssMiB: after.peakRssMiB, cpuSeconds: after.cpuSeconds - before.cpuSeconds };
        } finally {
          await stack.stop();
        }
      };
      const glibc = await step('media-ingest (glibc malloc)', ingest(false));
      const subject = await step('media-ingest (jemalloc)', ingest(true));

      const rate = (r: Run) => count / r.seconds;
      const row = (name: string, role: VariantResult['role'], r: Run): VariantResult => ({
        name,
        role,
        figures: {
          wall: { value: r.seconds, unit: 's', digits: 2 },
          throughput: { value: rate(r), unit: 'images/s', digits: 2 },
          ...(r.cpuSeconds !== undefined ? { 'worker CPU': { value: r.cpuSeconds, unit: 's', digits: 1 } } : {}),
          ...(r.peakRssMiB !== undefined ? { 'worker peak RSS': { value: r.peakRssMiB, unit: 'MiB', digits: 0 } } : {}),
        },
      });
      const checks: Check[] = [
        { name: 'images/s media-ingest / bare sharp', value: rate(subject) / rate(bare), unit: '', target: { op: '>=', value: 0.85 } },
        { name: 'images/s media-ingest / vipsthumbnail', value: rate(subject) / rate(vips), unit: '' },
        { name: 'images/s jemalloc / glibc malloc', value: rate(subject) / rate(glibc), unit: '' },
        { name: 'worker peak RSS glibc − jemalloc', value: glibc.peakRssMiB! - subject.peakRssMiB!, unit: 'MiB', digits: 0 },
      ];
      return {
        parameters: {
          BENCH_IMAGES: count,
          BENCH_WIDTH: width,
          BENCH_HEIGHT: height,
          'megapixels per image': (width * height) / 1e6,
          'images at once': cores,
        },
        variants: [
          row('bare sharp script', 'baseline', bare),
          row('vipsthumbnail', 'baseline', vips),
          row('media-ingest, glibc malloc', 'baseline', glibc),
          row('media-ingest', 'subject', subject),
        ],
        checks,
        notes: [
          'Images/s = images / wall time from the moment the jobs are enqueued (originals already in the fs store, as after an upload) to the last record marked ready; for the baselines, from the first render to the last.',
          'media-ingest runs the whole ingest job per image: verify, checksum claim, header probe, exiftool metadata, mappings, the four renditions (one decode: shrink-on-load to the largest size, the smaller ones derived from it), writes to the store, the record update and its JSON copy. WORKER_CONCURRENCY = cores.',
          'The bare sharp script decodes the file once per preset (`sharp(file).autoOrient().resize(box).webp().toFile()`), as many images at once as there are cores, under jemalloc like the worker. vipsthumbnail runs one process per rendition, as many at once as there are cores.',
          `The glibc variant is the same worker without LD_PRELOAD: sharp then runs one libvips thread per image and glibc's arenas fragment; worker/main.ts restarts itself with jemalloc to avoid it. jemalloc: ${JEMALLOC ?? 'not installed (both worker variants on glibc)'}.`,
          'The photos are one generated 24-megapixel JPEG (smooth gradients with grain, quality 90) made distinct per copy by a JPEG comment, so they decode alike and are not de-duplicated.',
        ],
      };
    } finally {
      await remove();
    }
  },
};
