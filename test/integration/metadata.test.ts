import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  form,
  hasSharedFixtures,
  SHARED_FIXTURES,
  startService,
  storageKinds,
  type StorageKind,
  type TestService,
} from '../harness/service.js';

const fixtures = await hasSharedFixtures();

interface ManifestEntry {
  file: string;
  expect: Record<string, unknown>;
}
const manifest: ManifestEntry[] = fixtures ? JSON.parse(await fs.readFile(path.join(SHARED_FIXTURES, 'MANIFEST.json'), 'utf8')) : [];

/** A JPEG with EXIF (IFD0 and the Exif IFD) and orientation, written by sharp. */
async function photo(
  opts: { make?: string; model?: string; description?: string; date?: string; orientation?: number } = {},
): Promise<Buffer> {
  const img = sharp({ create: { width: 120, height: 80, channels: 3, background: { r: 10, g: 90, b: 160 } } })
    .jpeg()
    .withExif({
      IFD0: { Make: opts.make ?? 'Acme', Model: opts.model ?? 'Model 7', ImageDescription: opts.description ?? 'A blue field' },
      IFD2: { DateTimeOriginal: opts.date ?? '2021:06:01 12:30:00', OffsetTimeOriginal: '+02:00' },
    });
  // sharp writes Orientation itself (withExif's IFD0 value is overridden).
  return (opts.orientation ? img.withMetadata({ orientation: opts.orientation }) : img).toBuffer();
}

/** Synthetic images repeat; a library that allows duplicates keeps de-duplication out of these tests. */
const LIB = 'metadata';

async function upload(svc: TestService, name: string, data: Uint8Array, fields: Record<string, string> = {}) {
  const res = await svc.fetch(`/v1/libraries/${LIB}/files?wait=30`, { method: 'POST', body: form({ ...fields, file: { name, data } }) });
  expect(res.status, await res.clone().text()).toBe(204);
  const id = Number(res.headers.get('x-resource-id'));
  return (await (await svc.fetch(`/v1/resources/${id}`)).json()) as {
    id: number;
    metadata: Record<string, unknown>;
    fields: Record<string, unknown>;
  };
}

/** Floats with a tolerance; ExifTool ≥ 13 appends a repeat count (" [x3]") to a repeated warning that 12.57 did not. */
function same(tag: string, got: unknown, want: unknown): boolean {
  if (typeof want === 'number' && typeof got === 'number') return Math.abs(got - want) <= 1e-6 * Math.max(1, Math.abs(want));
  if (tag === 'ExifTool:Warning' && typeof got === 'string' && typeof want === 'string') return got.replace(/ \[x\d+\]$/, '') === want;
  return JSON.stringify(got) === JSON.stringify(want);
}

describe.each<StorageKind>(storageKinds())('metadata extraction and mappings (%s store)', (storage) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService(storage);
    await svc.core.catalog.createLibrary({ name: LIB, dedupe: 'allow' });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('stores every tag grouped like EXIF:Make in -n form, and normalised mapped fields with the mappings version', async () => {
    const rec = await upload(svc, 'blue.jpg', await photo({ orientation: 6 }));
    expect(rec.metadata).toMatchObject({
      'EXIF:Make': 'Acme',
      'EXIF:Model': 'Model 7',
      'EXIF:Orientation': 6,
      'EXIF:DateTimeOriginal': '2021:06:01 12:30:00',
      'File:FileName': 'blue.jpg',
      'File:MIMEType': 'image/jpeg',
    });
    expect(rec.metadata['File:Directory']).toBeUndefined();
    expect(rec.fields).toEqual({ make: 'Acme', model: 'Model 7', description: 'A blue field', capturedAt: '2021-06-01T12:30:00+02:00' });
    expect(rec).toMatchObject({ width: 80, height: 120, orientation: 6, mappingsVersion: 1, warnings: [] });
  });

  it('keeps the full tag set out of Redis: list pages carry fields, not metadata', async () => {
    const rec = await upload(svc, 'list.jpg', await photo());
    const stored = (await svc.core.redis.get(svc.core.catalog.keys.resource(rec.id)))!;
    expect(stored).toContain('Acme');
    expect(stored.includes('metadata') || stored.includes('EXIF:Make')).toBe(false);
    const page = await (await svc.fetch('/v1/resources?limit=1000')).json();
    const item = page.resources.find((r: { id: number }) => r.id === rec.id);
    expect(item.fields.make).toBe('Acme');
    expect(item.metadata).toBeUndefined();
  });

  it('no_exif=1 reads no metadata but records dimensions; mapping change + revert makes the fields appear', async () => {
    const rec = await upload(svc, 'quiet.jpg', await photo({ make: 'Quietcam', orientation: 8 }), { no_exif: '1' });
    expect(rec).toMatchObject({ noExif: true, metadata: {}, fields: {}, width: 80, height: 120, orientation: 8 });

    const current = await (await svc.fetch('/v1/mappings')).json();
    const put = await svc.fetch('/v1/mappings', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: current.version, fields: { ...current.fields, cameraMaker: ['EXIF:Make'] } }),
    });
    expect(put.status).toBe(200);
    const after = await put.json();
    expect(after.version).toBe(current.version + 1);

    const rev = await svc.fetch(`/v1/resources/${rec.id}/reprocess?wait=30`, { method: 'POST' });
    expect(rev.status, await rev.clone().text()).toBe(204);
    const again = await (await svc.fetch(`/v1/resources/${rec.id}`)).json();
    expect(again).toMatchObject({ status: 'ready', noExif: false, mappingsVersion: after.version, width: 80, height: 120 });
    expect(again.fields).toMatchObject({ cameraMaker: 'Quietcam', make: 'Quietcam' });
    expect(again.metadata['EXIF:Make']).toBe('Quietcam');
  });

  it('a file exiftool cannot read is ready with a warning, not a failure', async () => {
    const res = await svc.fetch(`/v1/libraries/${LIB}/files?wait=30`, {
      method: 'POST',
      body: form({ f: { name: 'noise.bin', data: new Uint8Array(4096).map((_, i) => (i * 7919) % 251) } }),
    });
    expect(res.status).toBe(204);
    const rec = await (await svc.fetch(`/v1/resources/${res.headers.get('x-resource-id')}`)).json();
    expect(rec.status).toBe('ready');
    expect(rec.warnings.join(' ')).toMatch(/Unknown file type/);
  });

  it.skipIf(!fixtures)(
    'every MANIFEST.json entry: the extracted values match its expect entries',
    async () => {
      const mismatches: string[] = [];
      // A few at a time, as the worker's two slots take them: one upload waiting for its
      // own job left a core idle (the extraction is the same either way).
      const queue = [...manifest];
      await Promise.all(
        Array.from({ length: 3 }, async () => {
          for (let entry = queue.shift(); entry; entry = queue.shift()) {
            const bytes = await fs.readFile(path.join(SHARED_FIXTURES, entry.file));
            const res = await svc.fetch(`/v1/libraries/${LIB}/files?wait=60`, {
              method: 'POST',
              body: form({ file: { name: path.basename(entry.file), data: bytes } }),
            });
            const id = res.headers.get('x-resource-id');
            const rec = await (await svc.fetch(`/v1/resources/${id}`)).json();
            for (const [tag, want] of Object.entries(entry.expect)) {
              if (!same(tag, rec.metadata?.[tag], want))
                mismatches.push(
                  `${entry.file} ${tag}: got ${JSON.stringify(rec.metadata?.[tag])}, want ${JSON.stringify(want)} (status ${rec.status}: ${String(rec.error).slice(0, 80)})`,
                );
            }
          }
        }),
      );
      expect(mismatches.sort()).toEqual([]);
    },
    240_000,
  );
});
