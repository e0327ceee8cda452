// Attack: unauthenticated memory exhaustion (issue 21). A ResourceSpace client could send
// 1,000 form fields of 64 KB before its signature was checked, a byte every two minutes,
// and hold it all forever: 8 such connections took the API from 558 to 1,097 MiB. Now the
// fields before the signature are capped in total, bodies must arrive within
// REQUEST_TIMEOUT_MS unless an authenticated upload is streaming, and one address may hold
// MAX_CONNECTIONS_PER_CLIENT connections. The memory figure is measured on the API as its
// own process (its RSS from /proc), not on the test runner.
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../harness/free-port.js';
import { runEntry, type Proc } from '../harness/process.js';
import { startService, TEST_KEY, type TestService } from '../harness/service.js';

const RS_USER = 'attacker-target';
const RS_KEY = 'rs-private-key-0123456789abcdef';
const MiB = 1024 * 1024;

/** A socket that writes `head`, then one byte every `everyMs`, and never finishes. */
function slowClient(port: number, head: string, everyMs: number) {
  const socket = net.connect(port, '127.0.0.1');
  let answer = '';
  let timer: NodeJS.Timeout | undefined;
  socket.on('error', () => undefined);
  socket.on('data', (d) => (answer += d.toString()));
  socket.on('connect', () => {
    socket.write(head);
    timer = setInterval(() => !socket.destroyed && socket.write('x'), everyMs);
  });
  const closed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      clearInterval(timer);
      resolve();
    }),
  );
  return { socket, closed, answer: () => answer, stop: () => (clearInterval(timer), socket.destroy()) };
}

/** A ResourceSpace multipart request whose fields before the file total `fieldBytes`, then a field that never ends. */
function rsMultipartHead(fieldBytes: number): string {
  const b = `----slow${randomBytes(6).toString('hex')}`;
  let body = '';
  // Many fields, as the attack sent them (each under the per-field limit).
  for (let i = 0; body.length < fieldBytes - 2048; i++)
    body += `--${b}\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\n${'a'.repeat(4000)}\r\n`;
  body += `--${b}\r\nContent-Disposition: form-data; name="query"\r\n\r\nuser=${RS_USER}&function=create_resource`;
  return `POST /api/ HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${b}\r\nContent-Length: 1000000000\r\n\r\n${body}`;
}

function rsFormHead(bytes: number): string {
  return `POST /api/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${65 * 1024}\r\n\r\nquery=${'a'.repeat(bytes)}`;
}

async function rssOf(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(process.platform !== 'linux')('200 unauthenticated slow connections against the API process', () => {
  let api: Proc;
  let port: number;
  let dataDir: string;
  beforeAll(async () => {
    port = await freePort();
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-slow-'));
    api = runEntry('api/main.ts', {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      REDIS_URL: inject('redisUrl'),
      REDIS_PREFIX: `t${randomBytes(5).toString('hex')}`,
      API_KEYS: TEST_KEY,
      RESOURCESPACE_USERS: `${RS_USER}:${RS_KEY}`,
      LOG_LEVEL: 'warn',
      // All 200 held for the measurement: the limits under test here are the per-connection ones.
      MAX_CONNECTIONS_PER_CLIENT: '400',
      REQUEST_TIMEOUT_MS: '120000',
      SOCKET_IDLE_TIMEOUT_MS: '120000',
    });
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 200) throw new Error(`the API did not start:\n${api.output().slice(-2000)}`);
      await sleep(100);
    }
  }, 60_000);
  afterAll(async () => {
    api?.child.kill('SIGTERM');
    await api?.exited;
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('costs the API less than 64 MiB of RSS while each sends its fields up to the cap and then a byte a second', async () => {
    // Warm up: the same requests, finished, so code loaded on first use is not counted.
    for (let i = 0; i < 20; i++) {
      const c = slowClient(port, rsMultipartHead(60 * 1024), 50);
      await sleep(100);
      c.stop();
      const f = slowClient(port, rsFormHead(60 * 1024), 50);
      await sleep(50);
      f.stop();
    }
    await sleep(1000);
    const before = await rssOf(api.child.pid!);

    // Half send as much as the server keeps before the signature (just under the cap) and
    // then trickle, held open; half send 1 MiB of fields at once, as the attack did (1,000
    // fields of 64 KB were all kept before the fix: this half alone would cost 200 MiB).
    const held = Array.from({ length: 100 }, (_, i) => slowClient(port, i % 2 ? rsMultipartHead(60 * 1024) : rsFormHead(60 * 1024), 1000));
    const greedy = Array.from({ length: 100 }, () => slowClient(port, rsMultipartHead(1024 * 1024), 1000));
    await sleep(4000);
    let peak = 0;
    for (let i = 0; i < 6; i++) {
      peak = Math.max(peak, await rssOf(api.child.pid!));
      await sleep(500);
    }
    const open = held.filter((c) => !c.socket.destroyed).length;
    const greedyOpen = greedy.filter((c) => !c.socket.destroyed).length;
    for (const c of [...held, ...greedy]) c.stop();
    console.log(
      `[security] 200 slow unauthenticated connections (100 held under the cap, 100 sending 1 MiB): held open=${open} greedy open=${greedyOpen} rss before=${(before / MiB).toFixed(1)} MiB peak=${(peak / MiB).toFixed(1)} MiB delta=${((peak - before) / MiB).toFixed(1)} MiB`,
    );
    // Held, not refused: the measurement is of live connections.
    expect(open).toBeGreaterThanOrEqual(95);
    // Refused and closed (a 400, or a reset when the close overtook the rest of the write).
    expect(greedyOpen).toBe(0);
    expect(greedy.filter((c) => /^HTTP\/1\.1 400 /.test(c.answer())).length).toBeGreaterThan(0);
    expect(peak - before).toBeLessThan(64 * MiB);
  }, 90_000);

  it('refuses fields past the pre-signature cap at once, and closes the connection', async () => {
    const c = slowClient(port, rsMultipartHead(80 * 1024), 1000);
    await c.closed;
    expect(c.answer()).toMatch(/^HTTP\/1\.1 400 /);
    expect(c.answer()).toMatch(/fields before the file \(query, sign, user\) to total at most 64 KiB/);
  });
});

describe('request deadline and connections per address', () => {
  let svc: TestService;
  const TIMEOUT_MS = 1000;
  beforeAll(async () => {
    svc = await startService('fs', {
      worker: false,
      env: {
        RESOURCESPACE_USERS: `${RS_USER}:${RS_KEY}`,
        REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
        SOCKET_IDLE_TIMEOUT_MS: '20000',
        MAX_CONNECTIONS_PER_CLIENT: '5',
      },
    });
  });
  afterAll(async () => {
    await svc?.close();
  });
  const port = () => Number(new URL(svc.url).port);

  it('cuts an unauthenticated body that trickles (the fields before a signature) with 408 after REQUEST_TIMEOUT_MS', async () => {
    const c = slowClient(port(), rsMultipartHead(8 * 1024), 100);
    await c.closed;
    expect(c.answer()).toMatch(/^HTTP\/1\.1 408 /);
    expect(c.answer()).toMatch(/REQUEST_TIMEOUT_MS/);
  });

  it('cuts an authenticated JSON body that trickles too; an authenticated upload whose file trickles longer than that is not cut', async () => {
    const json = slowClient(
      port(),
      `POST /v1/checksums HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEY}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"checksums":[`,
      100,
    );
    await json.closed;
    expect(json.answer()).toMatch(/^HTTP\/1\.1 408 /);

    const b = '----up';
    const head = `--${b}\r\nContent-Disposition: form-data; name="file"; filename="slow.txt"\r\nContent-Type: text/plain\r\n\r\n`;
    const tail = `\r\n--${b}--\r\n`;
    const chunks = Array.from({ length: 8 }, () => 'slow bytes ');
    const length = Buffer.byteLength(head) + chunks.join('').length + Buffer.byteLength(tail);
    const socket = net.connect(port(), '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    await new Promise((r) => socket.on('connect', r));
    socket.write(
      `POST /v1/libraries/default/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEY}\r\nContent-Type: multipart/form-data; boundary=${b}\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n${head}`,
    );
    // 8 × 300 ms: past the 1 s deadline, never idle.
    for (const ch of chunks) {
      await sleep(300);
      socket.write(ch);
    }
    socket.write(tail);
    await new Promise((r) => socket.on('close', r));
    expect(answer).toMatch(/^HTTP\/1\.1 202 /);
  });

  it(`answers the connection past MAX_CONNECTIONS_PER_CLIENT with 429 and closes it; a freed slot works again`, async () => {
    const held = Array.from({ length: 5 }, () => slowClient(port(), 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 200));
    await sleep(300);
    const extra = slowClient(port(), 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 60_000);
    await extra.closed;
    expect(extra.answer()).toMatch(/^HTTP\/1\.1 429 /);
    expect(extra.answer()).toMatch(/MAX_CONNECTIONS_PER_CLIENT/);
    held[0]!.stop();
    await held[0]!.closed;
    await sleep(100);
    const res = await fetch(`${svc.url}/healthz`, { headers: { connection: 'close' } });
    expect(res.status).toBe(200);
    for (const h of held) h.stop();
  });
});
