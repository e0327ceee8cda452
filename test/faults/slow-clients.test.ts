// Fault: clients that hold connections without finishing — headers sent a byte at a
// time (slowloris), an upload body that stops midway and stays open, a client that
// hangs up mid-body. The server's timeouts (HEADERS_TIMEOUT_MS, SOCKET_IDLE_TIMEOUT_MS,
// small here) must close them, free the connection, and leave nothing recorded.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multipartEnd, multipartFileHead, rawRequest } from '../harness/raw-http.js';
import { startService, type TestService } from '../harness/service.js';
import { incompleteFiles, sleep, until } from './lib/audit.js';

const HEADERS_MS = 1000;
const IDLE_MS = 1500;

describe('slow and vanishing clients', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', { env: { HEADERS_TIMEOUT_MS: String(HEADERS_MS), SOCKET_IDLE_TIMEOUT_MS: String(IDLE_MS) } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  const port = () => Number(new URL(svc.url).port);
  const connections = () =>
    new Promise<number>((resolve, reject) => svc.api.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  const root = () => (svc.config.storage.driver === 'fs' ? svc.config.storage.root : '');
  async function snapshot() {
    return { count: await svc.core.catalog.countResources(), objects: (await svc.allObjects()).sort() };
  }

  /** Opens a socket and resolves when the server closes it, with how long that took. */
  function openSocket(write: (s: net.Socket) => void): { closed: Promise<number>; socket: net.Socket } {
    const started = Date.now();
    const socket = net.connect(port(), '127.0.0.1');
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.on('connect', () => write(socket));
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
    return { closed, socket };
  }

  it(`closes 30 slowloris connections (headers a byte at a time) within HEADERS_TIMEOUT_MS`, async () => {
    const timers: NodeJS.Timeout[] = [];
    const socks = Array.from({ length: 30 }, () =>
      openSocket((s) => {
        s.write('POST /v1/libraries/default/files HTTP/1.1\r\nHost: x\r\n');
        // One byte of a never-ending header every 200 ms: never idle, never complete.
        timers.push(setInterval(() => !s.destroyed && s.write('X'), 200));
      }),
    );
    const took = await Promise.all(socks.map((s) => s.closed));
    for (const t of timers) clearInterval(t);
    // Closed by the headers timeout (plus Node's sweep interval), not by idleness or the test's end.
    expect(Math.max(...took)).toBeLessThan(HEADERS_MS * 3 + 500);
    expect(Math.min(...took)).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    await until('every connection to be freed', async () => (await connections()) === 0, 2000);
    console.log(`[slow-clients] slowloris sockets=30 closed-after-ms=${Math.min(...took)}..${Math.max(...took)}`);
  });

  it('closes an upload whose body stalls, removes its staged bytes, records nothing', async () => {
    const before = await snapshot();
    const boundary = 'stall';
    const head =
      `POST /v1/libraries/default/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${svc.key}\r\n` +
      `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 10000000\r\n\r\n`;
    const { closed } = openSocket((s) => {
      s.write(head);
      s.write(multipartFileHead(boundary, 'file', 'stalled.bin'));
      s.write(Buffer.alloc(256 * 1024, 7));
      // …and then nothing, with the socket left open.
    });
    // Meanwhile the bytes so far are being staged.
    await sleep(300);
    const took = await closed;
    expect(took).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(took).toBeLessThan(IDLE_MS + 3000);
    await until(
      'the staged bytes to be removed',
      async () => (await incompleteFiles(root())).length === 0 && (await svc.allObjects()).length === before.objects.length,
      3000,
    );
    expect(await snapshot()).toEqual(before);
    expect(await connections()).toBe(0);
    console.log(`[slow-clients] stalled body closed after ${took} ms, nothing recorded`);
  });

  it('records nothing for 10 clients that hang up mid-body', async () => {
    const before = await snapshot();
    const boundary = 'hangup';
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        rawRequest(`${svc.url}/v1/libraries/default/files`, {
          headers: {
            authorization: `Bearer ${svc.key}`,
            'content-type': `multipart/form-data; boundary=${boundary}`,
            'content-length': 5_000_000,
          },
          chunks: [
            multipartFileHead(boundary, 'file', `h${i}.bin`),
            ...Array.from({ length: 20 }, () => Buffer.alloc(64 * 1024, i)),
            multipartEnd(boundary),
          ],
          hangUpAfterChunks: 3 + i,
          chunkDelayMs: 10,
        }),
      ),
    );
    await until(
      'every staged byte to be removed',
      async () => (await incompleteFiles(root())).length === 0 && (await svc.allObjects()).length === before.objects.length,
      3000,
    );
    expect(await snapshot()).toEqual(before);
    await until('every connection to be freed', async () => (await connections()) === 0, 2000);
  });

  it('still serves a normal client afterwards', async () => {
    const res = await svc.fetch('/v1/libraries/default');
    expect(res.status).toBe(200);
  });
});
