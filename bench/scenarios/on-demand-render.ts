import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { signedImageUrl } from '../../shared/renditions/signing.js';
import { photoJpeg, stageFiles, startStack, variantOf, waitReady } from '../lib/images.js';
import { benchTempDir } from '../lib/proc.js';
import type { Check, Scenario, ScenarioResult, VariantResult } from '../scenario.js';
import { envInt } from '../lib/params.js';

const SECRET = 'bench-image-url-secret-0123456789abcdef';

export const onDemandRender: Scenario = {
  name: 'on-demand-render',
  description:
    'Latency of a size not stored yet, `GET /image/{w}x0/{id}.webp` of a 24-megapixel JPEG (signed URL): the API adds a ' +
    'high-priority render job, the worker renders and stores it, the API streams it — against the bare sharp call that ' +
    'renders the same size from the local file.',

  async run(): Promise<ScenarioResult> {
    const sizes = envInt('BENCH_SIZES', 6);
    const { dir: root, remove } = await benchTempDir('mi-bench-on-demand-');
    const stack = await startStack(root, { worker: { jemalloc: true }, api: true, env: { IMAGE_URL_SECRET: SECRET } });
    try {
      const photo = path.join(root, 'photo.jpg');
      await fs.writeFile(photo, variantOf(await photoJpeg(6000, 4000), 7));
      const staged = await stageFiles(stack, [photo]);
      const [rec] = await waitReady(
        stack,
        (await staged.commit()).map((r) => r.id),
      );
      const widths = Array.from({ length: sizes }, (_, i) => 300 + 97 * i);

      const bare: number[] = [];
      const served: number[] = [];
      for (const w of widths) {
        // Alternate, so drift of the machine hits both alike.
        let t0 = performance.now();
        const b = await sharp(photo)
          .autoOrient()
          .resize({ width: w, fit: 'inside', withoutEnlargement: true })
          .webp({ quality: 80 })
          .toBuffer();
        bare.push(performance.now() - t0);

        const url = `${stack.apiUrl}${signedImageUrl(`/image/${w}x0/${rec!.id}.webp`, 600, SECRET)}`;
        t0 = performance.now();
        const res = await fetch(url);
        const body = Buffer.from(await res.arrayBuffer());
        served.push(performance.now() - t0);
        if (res.status !== 200) throw new Error(`${url}: ${res.status} ${body.toString().slice(0, 300)}`);
        const meta = await sharp(body).metadata();
        if (meta.width !== w || Math.abs(body.length - b.length) > b.length * 0.2) {
          throw new Error(`rendition ${w}x0 is ${meta.width} wide and ${body.length} bytes; the bare call made ${b.length} bytes`);
        }
        process.stdout.write(`   ${w}x0: bare ${bare.at(-1)!.toFixed(0)} ms, on demand ${served.at(-1)!.toFixed(0)} ms\n`);
      }
      // A second request for a size now stored: what every later visitor gets.
      const again = `${stack.apiUrl}${signedImageUrl(`/image/${widths[0]}x0/${rec!.id}.webp`, 600, SECRET)}`;
      const t0 = performance.now();
      await (await fetch(again)).arrayBuffer();
      const storedMs = performance.now() - t0;

      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const row = (name: string, role: VariantResult['role'], xs: number[]): VariantResult => ({
        name,
        role,
        figures: {
          'median latency': { value: med(xs), unit: 'ms', digits: 0 },
          fastest: { value: Math.min(...xs), unit: 'ms', digits: 0 },
          slowest: { value: Math.max(...xs), unit: 'ms', digits: 0 },
        },
      });
      const checks: Check[] = [
        { name: 'median latency on demand / bare sharp', value: med(served) / med(bare), unit: '', target: { op: '<=', value: 1.5 } },
        { name: 'median overhead (queue, store, HTTP)', value: med(served) - med(bare), unit: 'ms', digits: 0 },
        { name: 'the same size again, stored', value: storedMs, unit: 'ms', digits: 1 },
      ];
      return {
        parameters: { BENCH_SIZES: sizes, 'source megapixels': 24, widths: widths.join(' ') },
        variants: [row('bare sharp call', 'baseline', bare), row('GET /image on demand', 'subject', served)],
        checks,
        notes: [
          'Each size is requested once, cold: the API checks the signature, finds no stored object, adds the render job (its own queue, so it never waits behind ingest), waits on the queue events, then streams the stored rendition. Wall time as the client sees it (fetch from the bench process).',
          'The bare call is `sharp(file).autoOrient().resize({ width }).webp({ quality: 80 }).toBuffer()` in the bench process, alternating with the requests. Both decode with shrink-on-load and one libvips thread (the worker: cores ÷ WORKER_CONCURRENCY; the bench process: sharp on glibc).',
          'The worker runs under jemalloc (bench/servers/ingest-worker.ts with LD_PRELOAD), the API as in production (api/main.ts), each with its own redis-server.',
        ],
      };
    } finally {
      await stack.stop();
      await remove();
    }
  },
};
