import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../shared/embedded-redis.js';
import { makeJpeg } from '../harness/images.js';
import { runEntry, type Proc } from '../harness/process.js';
import { form } from '../harness/service.js';

/** `npm start` with nothing configured: its own Redis, local disk, a generated key, and a curl line that works. */
describe('npm start (embedded defaults)', () => {
  const procs: Proc[] = [];
  let dataDir: string;
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('starts, prints where to upload, serves the upload, stops on SIGTERM, and keeps data across a restart', async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-start-'));
    const port = await freePort();
    const env = { PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn' };

    const first = runEntry('start.ts', env);
    procs.push(first);
    const [, url] = await first.waitFor(/running at (http:\/\/\S+)/, 30_000);
    const [, key] = await first.waitFor(/API key: (\S+)/);
    const [curlLine] = await first.waitFor(/curl -i .*\?wait=30"/);
    expect(url).toBe(`http://localhost:${port}`);
    expect(curlLine).toContain(`Bearer ${key}`);
    expect(curlLine).toContain(`${url}/v1/libraries/default/files?wait=30`);

    const jpeg = await makeJpeg(120, 80);
    const res = await fetch(`${url}/v1/libraries/default/files?wait=30`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: form({ file: { name: 'photo.jpg', data: jpeg } }),
    });
    expect(res.status).toBe(204);
    const id = res.headers.get('x-resource-id');

    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();

    // Same DATA_DIR: same key, and the AOF-backed embedded Redis still knows the resource.
    const second = runEntry('start.ts', env);
    procs.push(second);
    await second.waitFor(/running at/, 30_000);
    const [, key2] = await second.waitFor(/API key: (\S+)/);
    expect(key2).toBe(key);
    const rec = await (await fetch(`${url}/v1/resources/${id}`, { headers: { authorization: `Bearer ${key}` } })).json();
    expect(rec).toMatchObject({ status: 'ready', width: 120, height: 80, size: jpeg.length });
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 90_000);
});
