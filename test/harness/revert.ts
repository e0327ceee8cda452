import sharp from 'sharp';
import { expect } from 'vitest';
import { form, type TestService } from './service.js';
import { until } from './until.js';

/** Helpers of the revert tests (test/integration/reprocess.test.ts, test/slow/bulk-revert.test.ts). */
export const json = { 'content-type': 'application/json' };

/** A small JPEG whose EXIF Make (and XPTitle) the mappings can read. */
export async function photo(make: string, title?: string): Promise<Buffer> {
  return sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 30, b: make.length * 10 } } })
    .jpeg()
    .withExif({ IFD0: { Make: make, Model: 'M1', ...(title ? { XPTitle: title } : {}) } })
    .toBuffer();
}

export async function uploadReady(svc: TestService, library: string, name: string, data: Uint8Array, fields: Record<string, string> = {}) {
  const res = await svc.fetch(`/v1/libraries/${library}/files?wait=30`, {
    method: 'POST',
    body: form({ ...fields, file: { name, data } }),
  });
  expect(res.status, await res.clone().text()).toBe(204);
  return Number(res.headers.get('x-resource-id'));
}

export async function putMappings(svc: TestService, fields: Record<string, unknown>) {
  const res = await svc.fetch('/v1/mappings', { method: 'PUT', headers: json, body: JSON.stringify({ fields }) });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { version: number; changed: boolean };
}

/** The batch once it is no longer running, as `GET /v1/batches/{id}` reports it. */
export async function batchSettled(svc: TestService, id: number, timeoutMs = 30_000) {
  return until(
    `batch ${id} to finish`,
    async () => {
      const batch = await (await svc.fetch(`/v1/batches/${id}`)).json();
      return batch.state !== 'running' && batch;
    },
    timeoutMs,
    200,
  );
}
