import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../shared/embedded-redis.js';
import { makeJpeg } from '../harness/images.js';
import { ROOT, runEntry, type Proc } from '../harness/process.js';
import { multipartEnd, multipartFileHead, rawRequest } from '../harness/raw-http.js';
import { form } from '../harness/service.js';
import { until } from '../harness/until.js';

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

/**
 * `npm start` as a terminal runs it: npm and the service in one process group,
 * signalled as a group (Ctrl-C, or `kill -TERM -- -<pgid>`), so each signal reaches the
 * service twice — directly and forwarded by npm. An upload in flight must still be answered
 * and the exit status be 0: the echo is not taken for a second, forcing signal, and the
 * embedded Redis (a group of its own) lives until the drain is over.
 */
describe('npm start signalled as a process group', () => {
  let dataDir: string;
  let group: number | undefined;
  afterAll(async () => {
    if (group) process.kill(-group, 'SIGKILL');
    // A service killed here leaves its Redis (a group of its own) running: stop it too.
    const leftover = dataDir && Number(await fs.readFile(path.join(dataDir, 'redis', 'redis-server.pid'), 'utf8').catch(() => ''));
    if (leftover) process.kill(leftover, 'SIGTERM');
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s to the group mid-upload: the upload is acknowledged, the exit status is 0, Redis is stopped last',
    async (signal) => {
      dataDir ??= await fs.mkdtemp(path.join(os.tmpdir(), 'mi-start-signal-'));
      const port = await freePort();
      const child = spawn('npm', ['start', '--silent'], {
        cwd: ROOT,
        detached: true,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      group = child.pid!;
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      await until(`npm start to be running (output: ${out.slice(-300)})`, () => /API key: (\S+)/.exec(out), 60_000);
      const key = /API key: (\S+)/.exec(out)![1]!;
      const redisPid = Number(await fs.readFile(path.join(dataDir, 'redis', 'redis-server.pid'), 'utf8'));
      expect(redisPid).toBeGreaterThan(0);

      // 40 chunks, 50 ms apart: the signal lands while the body is still streaming in.
      const boundary = 'slow';
      const chunks = [
        multipartFileHead(boundary, 'file', 'slow.bin'),
        ...Array.from({ length: 40 }, () => randomBytes(4096)),
        multipartEnd(boundary),
      ];
      const upload = rawRequest(`http://127.0.0.1:${port}/v1/libraries/default/files?wait=30`, {
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': chunks.reduce((n, c) => n + Buffer.byteLength(c), 0),
        },
        chunks,
        chunkDelayMs: 50,
      });
      // The upload is in the service's hands once its bytes are being staged on disk.
      const objects = path.join(dataDir, 'objects');
      await until(
        'the upload to be staging',
        async () => (await fs.readdir(objects, { recursive: true }).catch(() => [])).some((f) => f.includes('.incomplete-')),
        20_000,
        20,
      );
      process.kill(-group, signal);

      const res = await upload;
      expect(res).not.toBe('hung-up');
      if (res === 'hung-up') return;
      expect(res.status, res.body).toBe(204);
      expect(res.headers['x-resource-id']).toMatch(/^\d+$/);
      expect(await exited, out).toBe(0);
      group = undefined;
      expect(out).not.toMatch(/second signal; exiting now/);
      // Redis was stopped by the service, not left behind.
      await expect(fs.access(`/proc/${redisPid}`)).rejects.toThrow();
    },
    120_000,
  );
});
