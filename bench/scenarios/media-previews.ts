import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { parsePresetSpec, DEFAULT_PRESETS_SPEC } from '../../shared/renditions/presets.js';
import { makePdf, makeVideo } from '../../test/harness/media-samples.js';
import { renderPresets, sourceSideFor } from '../../worker/imaging/render.js';
import { withDecodableSource } from '../../worker/imaging/source.js';
import { probeMedia } from '../../worker/media/ffprobe.js';
import { benchTempDir } from '../lib/proc.js';
import type { Check, Scenario, ScenarioResult, VariantResult } from '../scenario.js';
import { envInt } from '../lib/params.js';

const run = promisify(execFile);

/**
 * The decoder table's two external paths against the one command a script would run:
 * a video's poster frame against `ffmpeg -ss … -frames:v 1`, a PDF's page 1 against
 * `pdftoppm` — same input, same size, alternating, in this one run.
 */
export const mediaPreviews: Scenario = {
  name: 'media-previews',
  description:
    "Poster frame of a 1080p H.264 clip through the worker's decoder (ffmpeg under prlimit, blank-frame check) against `ffmpeg -ss … -frames:v 1` alone; " +
    'page 1 of a PDF through the decoder (pdftoppm under prlimit, blank-page check) against `pdftoppm` alone.',

  async run(): Promise<ScenarioResult> {
    const rounds = envInt('BENCH_ROUNDS', 9);
    const { dir: root, remove } = await benchTempDir('mi-bench-media-');
    try {
      const clip = path.join(root, 'clip.mp4');
      process.stdout.write('   making a 1080p H.264 clip (12 s)…\n');
      await makeVideo(clip, { width: 1920, height: 1080, seconds: 12, codec: 'h264' });
      const pdf = path.join(root, 'doc.pdf');
      await fs.writeFile(pdf, makePdf({ pages: 20, width: 595, height: 842 }));
      const { duration } = await probeMedia(clip);
      const presets = parsePresetSpec(DEFAULT_PRESETS_SPEC, 4096).presets;
      const maxSide = sourceSideFor(presets, 4096);
      // Where the decoder looks first (10 % in) — the baseline seeks to the same time.
      const at = ((duration ?? 12) * 0.1).toFixed(3);

      const t = {
        ffmpeg: [] as number[],
        poster: [] as number[],
        posterAll: [] as number[],
        pdftoppm: [] as number[],
        page: [] as number[],
        pageAll: [] as number[],
      };
      const time = async (xs: number[], fn: () => Promise<unknown>) => {
        const t0 = performance.now();
        await fn();
        xs.push(performance.now() - t0);
      };
      for (let i = 0; i < rounds; i++) {
        await time(t.ffmpeg, () =>
          run('ffmpeg', ['-v', 'error', '-nostdin', '-y', '-ss', at, '-i', clip, '-frames:v', '1', path.join(root, 'baseline.jpg')]),
        );
        await time(t.poster, () => withDecodableSource(clip, { mimeType: 'video/mp4', duration, maxSide }, async (src) => src.input));
        await time(t.pdftoppm, () =>
          run('pdftoppm', [
            '-f',
            '1',
            '-l',
            '1',
            '-singlefile',
            '-scale-to',
            String(maxSide),
            '-tiff',
            '-tiffcompression',
            'none',
            pdf,
            path.join(root, 'baseline'),
          ]),
        );
        await time(t.page, () => withDecodableSource(pdf, { mimeType: 'application/pdf', maxSide }, async (src) => src.input));
        if (i < 3) {
          await time(t.posterAll, () =>
            withDecodableSource(clip, { mimeType: 'video/mp4', duration, maxSide }, (src) =>
              renderPresets(src.input, presets, { maxPixels: 100e6 }),
            ),
          );
          await time(t.pageAll, () =>
            withDecodableSource(pdf, { mimeType: 'application/pdf', maxSide }, (src) =>
              renderPresets(src.input, presets, { maxPixels: 100e6 }),
            ),
          );
        }
      }
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const row = (name: string, role: VariantResult['role'], xs: number[]): VariantResult => ({
        name,
        role,
        figures: {
          median: { value: med(xs), unit: 'ms', digits: 0 },
          fastest: { value: Math.min(...xs), unit: 'ms', digits: 0 },
          'previews/s': { value: 1000 / med(xs), unit: '', digits: 2 },
        },
      });
      const checks: Check[] = [
        {
          name: 'poster frames/s decoder / ffmpeg alone',
          value: med(t.ffmpeg) / med(t.poster),
          unit: '',
          digits: 2,
          target: { op: '>=', value: 0.85 },
        },
        {
          name: 'PDF pages/s decoder / pdftoppm alone',
          value: med(t.pdftoppm) / med(t.page),
          unit: '',
          digits: 2,
          target: { op: '>=', value: 0.85 },
        },
        { name: 'poster + the four default WebP presets', value: med(t.posterAll), unit: 'ms', digits: 0 },
        { name: 'page 1 + the four default WebP presets', value: med(t.pageAll), unit: 'ms', digits: 0 },
      ];
      return {
        parameters: {
          BENCH_ROUNDS: rounds,
          clip: '1920x1080 H.264 (x264 ultrafast), 12 s, 25 fps',
          pdf: '20 pages A4',
          'page/frame longest side': maxSide,
          'seek to': `${at} s`,
        },
        variants: [
          row('ffmpeg -ss T -i clip -frames:v 1 poster.jpg', 'baseline', t.ffmpeg),
          row('poster frame (decoder table)', 'subject', t.poster),
          row(`pdftoppm -f 1 -l 1 -scale-to ${maxSide} -tiff`, 'baseline', t.pdftoppm),
          row('PDF page 1 (decoder table)', 'subject', t.page),
        ],
        checks,
        notes: [
          'Each round runs the four commands one after another, so drift of the shared machine hits all alike; figures are medians over the rounds.',
          "The decoder runs the program under `prlimit --as` with a kill timer (worker/run-program.ts), writes an uncompressed TIFF into a scratch folder, and checks the frame is not one flat colour (ffmpeg's signalstats on the decoded frame — the blank-frame check; a PDF page is checked only when poppler reports damage). The baselines write a JPEG (ffmpeg) or the same uncompressed TIFF (pdftoppm) to a file and check nothing.",
          'The poster is the frame at 10 % of the clip; an all-black one would cost one more seek per retry (up to four). Renditions from the poster or page (last two checks) are reported, not judged.',
        ],
      };
    } finally {
      await remove();
    }
  },
};
