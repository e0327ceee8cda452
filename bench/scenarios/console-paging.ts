import { performance } from 'node:perf_hooks';
import { newResourceRecord } from '../../shared/catalog/new-record.js';
import type { Rendition } from '../../shared/model.js';
import { BENCH_KEY, startStack } from '../lib/images.js';
import { benchTempDir } from '../lib/proc.js';
import type { Check, Scenario, ScenarioResult, VariantResult } from '../scenario.js';
import { envInt } from '../lib/params.js';

/** The console's grid asks for this many per page (console/src/views/library.ts). */
const PAGE = 48;

export const consolePaging: Scenario = {
  name: 'console-paging',
  description:
    "The web console's resource grid over a library of 100,000 resources: `GET /v1/resources?limit=48` at the first page, " +
    'in the middle and at the end of the cursor, and with the status/type filters (a common and a rare status) — against the first page.',

  async run(): Promise<ScenarioResult> {
    const total = envInt('BENCH_RESOURCES', 100_000);
    const rounds = envInt('BENCH_ROUNDS', 15);
    const { dir: root, remove } = await benchTempDir('mi-bench-console-');
    const stack = await startStack(root, { api: true });
    try {
      // Records as ingest leaves them: mapped fields and four renditions each; 1 in 100
      // failed, 1 in 20 not an image.
      const lib = await stack.core.catalog.getLibrary('default');
      const first = await stack.core.catalog.allocateResourceId();
      for (let i = 0; i < total; i += 1_000) {
        const batch = [];
        for (let j = i; j < Math.min(total, i + 1_000); j++) {
          const id = j === 0 ? first : await stack.core.catalog.allocateResourceId();
          const image = j % 20 !== 7;
          batch.push(
            newResourceRecord({
              id,
              library: lib.id,
              fileName: `photo-${id}.${image ? 'jpg' : 'pdf'}`,
              source: 'bench',
              type: image ? 'image' : 'file',
              status: j % 100 === 42 ? 'failed' : 'ready',
              size: 2_400_000,
              width: image ? 4000 : null,
              height: image ? 3000 : null,
              storageKey: `bench/${id}`,
              mappingsVersion: 1,
              fields: { title: `Photo ${id}`, creator: 'Bench', capturedAt: '2024-05-01T10:00:00+02:00', make: 'Canon', model: 'EOS R6' },
              renditions: image ? renditions(id) : [],
            }),
          );
        }
        await stack.core.catalog.createResources(batch);
      }
      const last = first + total - 1;

      const time = async (query: string): Promise<number[]> => {
        const ms: number[] = [];
        for (let r = 0; r < rounds; r++) {
          const t0 = performance.now();
          const res = await fetch(`${stack.apiUrl}/v1/resources?${query}`, { headers: { authorization: `Bearer ${BENCH_KEY}` } });
          const body = (await res.json()) as { resources: unknown[] };
          ms.push(performance.now() - t0);
          if (res.status !== 200 || body.resources.length === 0)
            throw new Error(`${query}: ${res.status}, ${body.resources.length} resources`);
        }
        return ms;
      };
      const cases: [string, VariantResult['role'], string][] = [
        ['first page', 'baseline', `library=default&limit=${PAGE}`],
        ['middle (cursor at 50%)', 'subject', `library=default&limit=${PAGE}&cursor=${first + Math.floor(total / 2)}`],
        ['last page', 'subject', `library=default&limit=${PAGE}&cursor=${last - PAGE}`],
        [
          'status=ready&type=image, middle',
          'subject',
          `library=default&limit=${PAGE}&status=ready&type=image&cursor=${first + Math.floor(total / 2)}`,
        ],
        [
          'status=failed (1 in 100), middle',
          'subject',
          `library=default&limit=${PAGE}&status=failed&cursor=${first + Math.floor(total / 2)}`,
        ],
      ];
      // Warm-up (JIT, connections): the first requests of a fresh process are not what a grid sees.
      for (const [, , query] of cases) await time(query);
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const variants: VariantResult[] = [];
      const medians: Record<string, number> = {};
      for (const [name, role, query] of cases) {
        const ms = await time(query);
        medians[name] = med(ms);
        process.stdout.write(`   ${name}: median ${med(ms).toFixed(1)} ms\n`);
        variants.push({
          name,
          role,
          figures: {
            'median latency': { value: med(ms), unit: 'ms', digits: 1 },
            slowest: { value: Math.max(...ms), unit: 'ms', digits: 1 },
          },
        });
      }
      const base = medians['first page']!;
      const checks: Check[] = [
        { name: 'last page / first page', value: medians['last page']! / base, unit: '', target: { op: '<=', value: 1.5 } },
        { name: 'middle / first page', value: medians['middle (cursor at 50%)']! / base, unit: '', target: { op: '<=', value: 1.5 } },
        {
          name: 'rare-status page (up to 5,000 looked at) / first page',
          value: medians['status=failed (1 in 100), middle']! / base,
          unit: '',
        },
      ];
      return {
        parameters: { BENCH_RESOURCES: total, BENCH_ROUNDS: rounds, 'page size': PAGE },
        variants,
        checks,
        notes: [
          'A page is a ZRANGEBYSCORE on the library index from the cursor (O(log N + page)) and one pipelined HGETALL per record, so its cost does not depend on how deep the cursor is.',
          "A filtered page reads the index in chunks and checks each record's status and type (HMGET) until the page is full, or 5,000 were looked at (then the page is short and its nextCursor goes on). A rare status therefore costs up to that bound per page.",
          'Wall time as the client sees it (fetch from the bench process to the API on 127.0.0.1), JSON parsed; the API runs as `npm run api` would, with its own redis-server.',
        ],
      };
    } finally {
      await stack.stop();
      await remove();
    }
  },
};

function renditions(id: number): Rendition[] {
  return [
    ['thumbnail', 200, 200],
    ['small', 480, 360],
    ['medium', 1024, 768],
    ['large', 2048, 1536],
  ].map(([name, width, height]) => ({
    name: String(name),
    width: Number(width),
    height: Number(height),
    format: 'webp',
    size: 20_000,
    url: `/image/${width}x${height}/${id}.webp`,
  }));
}
