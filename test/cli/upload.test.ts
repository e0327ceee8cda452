import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_MODES, startService, type TestService } from '../harness/service.js';
import { createLibrary } from '../harness/libraries.js';
import { until } from '../harness/until.js';
import { runCli, runInProcess, startCli } from './harness.js';

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** The kill/resume test's files, in folders of PER_DIR; the first run is killed after KILL_AFTER uploads. */
const N = 600;
const PER_DIR = 30;
const KILL_AFTER = 150;

describe.each(REDIS_MODES)('media-ingest upload (%s redis)', (redis) => {
  let svc: TestService;
  let tmp: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    svc = await startService('fs', { redis, env: { WORKER_CONCURRENCY: '4' } });
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-cli-'));
    env = { MEDIA_INGEST_URL: svc.url, MEDIA_INGEST_KEY: svc.key };
  });
  afterAll(async () => {
    await svc?.close();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  async function library(dedupe = 'reject') {
    return createLibrary(svc, { name: `cli-${randomBytes(3).toString('hex')}`, dedupe });
  }

  /** Every resource of a library through the API, following the cursor. */
  async function listAll(lib: string) {
    const all: { id: number; checksum: string; status: string; fileName: string }[] = [];
    let url: string | null = `/v1/resources?library=${lib}&limit=1000`;
    while (url) {
      const page = (await (await svc.fetch(url)).json()) as { resources: typeof all; links: { next: string | null } };
      all.push(...page.resources);
      url = page.links.next;
    }
    return all;
  }

  // What is shown is the resume, not the count: enough files that the kill lands with
  // eight uploads in flight and most of the run still to come (2,000 files showed
  // nothing more, at three times the cost).
  it(`${N} files: killed with SIGKILL midway, run again, ends with exactly ${N} resources and no duplicates`, async () => {
    const lib = await library('reject');
    const dir = path.join(tmp, 'many');
    const expected = new Set<string>();
    for (let d = 0; d < N / PER_DIR; d++) {
      await fs.mkdir(path.join(dir, `d${d}`), { recursive: true });
      await Promise.all(
        Array.from({ length: PER_DIR }, (_, i) => {
          const body = `file ${d}/${i} ${randomBytes(8).toString('hex')}\n`;
          expected.add(sha256(body));
          return fs.writeFile(path.join(dir, `d${d}`, `f${i}.txt`), body);
        }),
      );
    }
    expect(expected.size).toBe(N);

    const first = startCli(['upload', dir, '--library', lib.name, '--json', '--no-exif', '-c', '8'], env);
    // Kill it once a good part is through, as a crash or `kill -9` would.
    await until(
      `the first run to upload ${KILL_AFTER} files`,
      () => first.lines().filter((l) => l.status === 'uploaded').length >= KILL_AFTER,
      150_000,
      20,
    );
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    expect(killed.signal).toBe('SIGKILL');
    const uploadedBefore = first.lines().filter((l) => l.status === 'uploaded').length;
    expect(uploadedBefore).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(uploadedBefore).toBeLessThan(N);

    const second = await runCli(['upload', dir, '--library', lib.name, '--json', '--no-exif', '-c', '8', '--wait'], env);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    const files = second.lines.filter((l) => l.event === 'file');
    expect(files).toHaveLength(N);
    const summary = second.lines.find((l) => l.event === 'summary')!;
    expect(summary.failed).toBe(0);
    expect(Number(summary.uploaded) + Number(summary.skipped)).toBe(N);
    // What the first run finished is skipped by checksum, not sent again.
    expect(Number(summary.skipped)).toBeGreaterThanOrEqual(uploadedBefore - 8 * 2);
    expect(files.filter((l) => l.status === 'uploaded').every((l) => l.processing === 'ready')).toBe(true);

    // Jobs of the killed run may still be finishing (a duplicate is removed by its job):
    // wait until nothing is processing, then count.
    const all = await until(
      'nothing left processing',
      async () => {
        const list = await listAll(lib.name);
        return !list.some((r) => r.status === 'processing') && list;
      },
      30_000,
    ).catch(() => listAll(lib.name));
    expect(all).toHaveLength(N);
    expect(new Set(all.map((r) => r.checksum))).toEqual(expected);
    expect(all.every((r) => r.status === 'ready')).toBe(true);
    const count = (await (await svc.fetch(`/v1/libraries/${lib.name}`)).json()) as { resourceCount: number };
    expect(count.resourceCount).toBe(N);

    // A third run has nothing left to do.
    const third = await runInProcess(['upload', dir, '--library', lib.name, '--json'], env);
    expect(third.code).toBe(0);
    expect(third.lines.find((l) => l.event === 'summary')).toMatchObject({ uploaded: 0, skipped: N, failed: 0 });
  }, 300_000);

  it('walks with globs, never loops on symlinks, reports bad entries per file and goes on', async () => {
    const lib = await library('reject');
    const dir = path.join(tmp, 'walk');
    await fs.mkdir(path.join(dir, 'sub', 'drafts'), { recursive: true });
    await fs.writeFile(path.join(dir, 'a.jpg'), 'not really a jpeg a');
    await fs.writeFile(path.join(dir, 'sub', 'b.JPG.txt'), 'b text');
    await fs.writeFile(path.join(dir, 'sub', 'c.jpg'), 'c bytes');
    await fs.writeFile(path.join(dir, 'sub', 'same-as-c.jpg'), 'c bytes');
    await fs.writeFile(path.join(dir, 'sub', 'drafts', 'd.jpg'), 'draft');
    await fs.writeFile(path.join(dir, '.hidden.jpg'), 'hidden');
    await fs.writeFile(path.join(dir, 'empty.jpg'), '');
    await fs.symlink('..', path.join(dir, 'sub', 'loop'));
    await fs.symlink(path.join(dir, 'nowhere.jpg'), path.join(dir, 'broken.jpg'));

    const res = await runInProcess(['upload', dir, '-l', lib.name, '--json', '-i', '*.jpg', '-x', '**/drafts', '--wait'], env);
    const byName = new Map(res.lines.filter((l) => l.event === 'file').map((l) => [path.basename(String(l.path)), l]));
    expect([...byName.keys()].sort()).toEqual(['a.jpg', 'broken.jpg', 'c.jpg', 'empty.jpg', 'same-as-c.jpg']);
    expect(byName.get('a.jpg')).toMatchObject({ status: 'uploaded', processing: 'ready', sha256: sha256('not really a jpeg a') });
    expect(byName.get('broken.jpg')).toMatchObject({ status: 'failed' });
    expect(String(byName.get('broken.jpg')!.reason)).toMatch(/^broken symbolic link/);
    expect(byName.get('empty.jpg')).toMatchObject({ status: 'skipped' });
    const pair = [byName.get('c.jpg')!, byName.get('same-as-c.jpg')!];
    expect(pair.map((p) => p.status).sort()).toEqual(['skipped', 'uploaded']);
    expect(res.code).toBe(1);
    expect(await listAll(lib.name)).toHaveLength(2);
  });

  it('a wrong key stops at once with one clear message and sends nothing', async () => {
    const lib = await library();
    const res = await runInProcess(['upload', path.join(tmp, 'walk'), '-l', lib.name], {
      ...env,
      MEDIA_INGEST_KEY: 'wrong-key-0123456789',
    });
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/refused the API key: The API key is not valid\./);
    expect(res.stderr.match(/refused the API key/g)).toHaveLength(1);
    expect(await listAll(lib.name)).toHaveLength(0);
  });

  it('an unknown library is one message, exit 3', async () => {
    const res = await runInProcess(['upload', path.join(tmp, 'walk'), '-l', 'no-such-library'], env);
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('No library "no-such-library" exists.');
  });

  it('a server that is down: every file is reported failed with the reason, exit 1', async () => {
    const dir = path.join(tmp, 'down');
    await fs.mkdir(dir);
    for (let i = 0; i < 3; i++) await fs.writeFile(path.join(dir, `f${i}.txt`), `down ${i}`);
    const res = await runInProcess(['upload', dir, '--json', '--retries', '1'], { ...env, MEDIA_INGEST_URL: 'http://127.0.0.1:9' });
    expect(res.code).toBe(1);
    const files = res.lines.filter((l) => l.event === 'file');
    expect(files).toHaveLength(3);
    for (const f of files)
      expect(f).toMatchObject({ status: 'failed', reason: 'server unreachable: connection refused (is the server running?)' });
  });

  it('honours 429 Retry-After and retries 5xx from a throttling proxy in front of the server', async () => {
    const lib = await library('reject');
    const dir = path.join(tmp, 'throttled');
    await fs.mkdir(dir);
    for (let i = 0; i < 4; i++) await fs.writeFile(path.join(dir, `t${i}.txt`), `throttled ${i} ${randomBytes(4).toString('hex')}`);
    // The first two uploads get 429 with Retry-After: 1, the next one a 503; then requests pass through.
    const target = new URL(svc.url);
    let uploads = 0;
    const answered: number[] = [];
    const proxy = http.createServer((req, res) => {
      if (req.method === 'POST' && req.url?.includes('/files')) {
        uploads++;
        if (uploads <= 3) {
          req.resume();
          const status = uploads <= 2 ? 429 : 503;
          answered.push(status);
          res.writeHead(status, {
            'content-type': 'application/problem+json',
            'retry-after': uploads <= 2 ? '1' : '0',
            connection: 'close',
          });
          res.end(JSON.stringify({ status, detail: status === 429 ? 'Too many requests.' : 'Busy.' }));
          return;
        }
      }
      const up = http.request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const started = Date.now();
      const res = await runInProcess(['upload', dir, '-l', lib.name, '--json', '-c', '1'], {
        ...env,
        MEDIA_INGEST_URL: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      });
      expect(res.code).toBe(0);
      expect(answered).toEqual([429, 429, 503]);
      expect(res.lines.find((l) => l.event === 'summary')).toMatchObject({ uploaded: 4, failed: 0 });
      expect(res.stderr).toMatch(/retrying upload .* in 1\.0 s: Too many requests\./);
      // Two Retry-After: 1 waits, one after the other (concurrency 1).
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      expect(await listAll(lib.name)).toHaveLength(4);
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('--help of every command shows examples; unknown flags are usage errors', async () => {
    for (const cmd of ['upload', 'status', 'reprocess', 'reindex', 'libraries']) {
      const res = await runInProcess([cmd, '--help'], {});
      expect(res.code, cmd).toBe(0);
      expect(res.stdout, cmd).toContain(`Usage: media-ingest ${cmd}`);
      expect(res.stdout, cmd).toContain('Examples:');
    }
    const bad = await runInProcess(['upload', 'x', '--frobnicate'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("Unknown option '--frobnicate'");
    const noUrl = await runInProcess(['libraries'], {});
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain('MEDIA_INGEST_URL');
  });
});
