// Abuse: a corpus of hostile and broken files, and hostile multipart framing. Each one
// must end in a clear answer — a 4xx with a problem+json detail, or a processed
// resource (ready, or failed with its reason) — never a 5xx, never a crash, never a
// client's file name in a storage key; and memory must stay bounded throughout.
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceRecord } from '../../shared/model.js';
import { makeJpeg } from '../harness/images.js';
import { multipartEnd, multipartFileHead, rawRequest } from '../harness/raw-http.js';
import { hasSharedFixtures, SHARED_FIXTURES, startService, type TestService } from '../harness/service.js';

/** A 6000×6000 PNG is 36 MP: over this service's limit, a few KiB on the wire. */
const MAX_PIXELS = 25_000_000;
const KEY_SHAPE = /^resources\/[0-9a-f]{3}\/\d+\/v1\/original(\.[a-z0-9]{1,10})?$/;

type Outcome = { status: number; detail?: string; record?: ResourceRecord };

describe('hostile files and hostile framing', () => {
  let svc: TestService;
  const outcomes: { name: string; status: number; state: string }[] = [];
  let rssBefore = 0;
  let rssPeak = 0;
  let sampler: NodeJS.Timeout | undefined;
  beforeAll(async () => {
    svc = await startService('fs', { env: { MAX_IMAGE_PIXELS: String(MAX_PIXELS), MAX_UPLOAD_BYTES: '8M', JOB_ATTEMPTS: '2' } });
    rssBefore = process.memoryUsage().rss;
    sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
  });
  afterAll(async () => {
    clearInterval(sampler);
    console.log(
      `[hostile-files] files=${outcomes.length} rss-before=${mb(rssBefore)} rss-peak=${mb(rssPeak)} outcomes=${JSON.stringify(outcomes)}`,
    );
    await svc?.close();
  });

  /** Uploads raw bytes as one file part with `?wait` and reports what came back. */
  async function send(name: string, data: Buffer, fileName = name, type = 'application/octet-stream'): Promise<Outcome> {
    const boundary = 'hostile0boundary';
    const chunks = [multipartFileHead(boundary, 'file', fileName, type), data, multipartEnd(boundary)];
    const res = await rawRequest(`${svc.url}/v1/libraries/default/files?wait=30`, {
      headers: {
        authorization: `Bearer ${svc.key}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': chunks.reduce((n, c) => n + Buffer.byteLength(c), 0),
      },
      chunks,
    });
    if (res === 'hung-up') throw new Error(`${name}: hung up`);
    return settle(name, res.status, res.body, res.headers['x-resource-id']);
  }

  async function settle(name: string, status: number, body: string, resourceIds: string | string[] | undefined): Promise<Outcome> {
    const out: Outcome = { status };
    if (status !== 204 && status !== 202) out.detail = (JSON.parse(body) as { detail: string }).detail;
    const id = Number(String(resourceIds ?? '').split(',')[0]);
    if (id) {
      const r = await svc.core.catalog.getResource(id);
      if (r) out.record = r;
    }
    outcomes.push({ name, status, state: out.record?.status ?? 'none' });
    return out;
  }

  /** The invariants every hostile input is held to. */
  function expectClear(name: string, o: Outcome) {
    expect(o.status, `${name}: ${o.detail ?? ''}`).toBeLessThan(500);
    if (o.status >= 400) expect(o.detail, name).toMatch(/\w{3,}/);
    if (o.record) {
      expect(o.record.storageKey, name).toMatch(KEY_SHAPE);
      expect(['ready', 'failed'], name).toContain(o.record.status);
      if (o.record.status === 'failed') expect(o.record.error, name).toMatch(/\w{3,}/);
      // eslint-disable-next-line no-control-regex -- that is the check
      expect(o.record.fileName, name).not.toMatch(/[\u0000-\u001f/\\]/);
    }
  }

  it('fixtures: every corrupt and hostile file gets a clear answer', async (ctx) => {
    if (!(await hasSharedFixtures())) ctx.skip(true, '../shared/fixtures is absent');
    for (const group of ['corrupt', 'hostile']) {
      for (const file of (await fs.readdir(path.join(SHARED_FIXTURES, group))).sort()) {
        const o = await send(`${group}/${file}`, await fs.readFile(path.join(SHARED_FIXTURES, group, file)), file);
        expectClear(`${group}/${file}`, o);
      }
    }
    // The pixel bombs among them are refused with the reason, not rendered.
    const bombs = outcomes.filter((x) => /lottapixel|65536-uint32|giant-image/.test(x.name));
    expect(bombs.map((b) => b.state)).toEqual(bombs.map(() => 'failed'));
  }, 120_000);

  it('generated: truncated, zero bytes, pixel bomb, polyglots, SVG with script', async () => {
    const jpeg = await makeJpeg(800, 600);
    const bomb = await sharp({ create: { width: 6000, height: 6000, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .toColourspace('b-w')
      .png({ compressionLevel: 9 })
      .toBuffer();
    expect(bomb.length).toBeLessThan(200_000);
    const cases: [string, Buffer, string, (o: Outcome) => void][] = [
      ['truncated.jpg', jpeg.subarray(0, Math.floor(jpeg.length * 0.4)), 'truncated.jpg', () => undefined],
      ['empty.jpg', Buffer.alloc(0), 'empty.jpg', (o) => expect(o.status).toBe(400)],
      [
        'bomb.png',
        bomb,
        'bomb.png',
        (o) => {
          expect(o.record?.status).toBe('failed');
          expect(o.record?.error).toMatch(/pixel|limit|large/i);
        },
      ],
      // GIF header, then JavaScript: a GIF/JS polyglot; nothing decodes it as an image.
      [
        'gifjs.gif',
        Buffer.from('GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=1;alert(document.domain);//'),
        'gifjs.gif',
        (o) => expect(o.record?.status === 'failed' || o.status >= 400).toBe(true),
      ],
      // A real JPEG with a ZIP appended: a valid image (ready), stored under our key, never run.
      [
        'jpegzip.jpg',
        Buffer.concat([jpeg, Buffer.from('PK\x03\x04\x14\x00\x00\x00\x08\x00evil.php<?php system($_GET[c]); ?>')]),
        'jpegzip.jpg',
        () => undefined,
      ],
      // HTML named as an image: sniffed for what it is.
      [
        'html.jpg',
        Buffer.from('<!doctype html><html><script>alert(1)</script></html>'),
        'html.jpg',
        (o) => expect(o.record?.type ?? 'file').not.toBe('image'),
      ],
      [
        'script.svg',
        Buffer.from(
          '<svg xmlns="http://www.w3.org/2000/svg" width="50" height="50"><script>alert(1)</script><rect width="50" height="50" fill="red" onload="alert(2)"/></svg>',
        ),
        'script.svg',
        (o) => {
          // Rasterised (scripts never survive into a WebP) or refused with a reason.
          if (o.record?.status === 'ready') expect(o.record.renditions.every((r) => r.format !== 'svg')).toBe(true);
        },
      ],
      [
        'xxe.svg',
        Buffer.from(
          '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>',
        ),
        'xxe.svg',
        () => undefined,
      ],
    ];
    for (const [name, data, fileName, extra] of cases) {
      const o = await send(name, data, fileName);
      expectClear(name, o);
      extra(o);
    }
  }, 120_000);

  it('hostile file names never reach a storage key, and are cleaned for display', async () => {
    const names: [string, string][] = [
      ['../ traversal', '../../../../etc/passwd'],
      ['backslash traversal', '..\\..\\windows\\system32\\config'],
      ['NUL', 'a\u0000b.jpg'],
      ['control characters', 'x\r\ny\u001b[31m.txt'],
      ['4,000-character name', `${'n'.repeat(4000)}.txt`],
      ['only dots', '..'],
    ];
    for (const [label, fileName] of names) {
      const o = await send(label, Buffer.from(`name test ${label} ${Math.random()}`), fileName);
      expectClear(label, o);
      // Stored under a cleaned name, or refused outright (busboy refuses a NUL in a header).
      expect([204, 400], `${label}: ${o.detail ?? ''}`).toContain(o.status);
      if (o.status === 204) {
        expect(Buffer.byteLength(o.record!.fileName), label).toBeLessThanOrEqual(255);
        expect(o.record!.fileName, label).not.toMatch(/\.\./);
      }
    }
    // Invalid UTF-8 in the filename parameter, byte for byte.
    const boundary = 'utf8boundary';
    const head = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="bad-`),
      Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82]),
      Buffer.from(`.txt"\r\nContent-Type: text/plain\r\n\r\n`),
    ]);
    const chunks = [head, Buffer.from(`utf8 ${Math.random()}`), Buffer.from(multipartEnd(boundary))];
    const res = await rawRequest(`${svc.url}/v1/libraries/default/files?wait=30`, {
      headers: {
        authorization: `Bearer ${svc.key}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': chunks.reduce((n, c) => n + c.length, 0),
      },
      chunks,
    });
    if (res === 'hung-up') throw new Error('hung up');
    const o = await settle('invalid UTF-8 name', res.status, res.body, res.headers['x-resource-id']);
    expectClear('invalid UTF-8 name', o);
  }, 60_000);

  it('absurd multipart framing gets a 4xx, records nothing', async () => {
    const before = await svc.core.catalog.countResources();
    const frame = async (label: string, contentType: string, body: Buffer | string, refused = true) => {
      const res = await rawRequest(`${svc.url}/v1/libraries/default/files`, {
        headers: { authorization: `Bearer ${svc.key}`, 'content-type': contentType, 'content-length': Buffer.byteLength(body) },
        chunks: [body],
      });
      if (res === 'hung-up') throw new Error(`${label}: hung up`);
      const o = await settle(label, res.status, res.body, res.headers['x-resource-id']);
      if (refused) expect(o.status, `${label}: ${o.detail ?? res.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
      expect(o.status, label).toBeLessThan(500);
      return o;
    };
    const b = 'absurd';
    await frame('no boundary', 'multipart/form-data', `--${b}\r\n\r\nx\r\n--${b}--\r\n`);
    await frame(
      '200 KiB part header',
      `multipart/form-data; boundary=${b}`,
      `--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nX-Huge: ${'h'.repeat(200 * 1024)}\r\n\r\nx\r\n--${b}--\r\n`,
    );
    // busboy reads the first 100 header pairs of a part and drops the rest: bounded, so
    // the part may be accepted — what counts is no 5xx and nothing unbounded.
    const many = await frame(
      '1,000 header lines in one part',
      `multipart/form-data; boundary=${b}`,
      `--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n${'X-A: b\r\n'.repeat(1000)}\r\nx\r\n--${b}--\r\n`,
      false,
    );
    const accepted = many.status < 400 ? 1 : 0;
    await frame(
      '5,000 empty fields',
      `multipart/form-data; boundary=${b}`,
      `${`--${b}\r\nContent-Disposition: form-data; name="f"\r\n\r\n\r\n`.repeat(5000)}--${b}--\r\n`,
    );
    await frame(
      'file part without a name or disposition',
      `multipart/form-data; boundary=${b}`,
      `--${b}\r\nContent-Type: image/jpeg\r\n\r\nxyz\r\n--${b}--\r\n`,
    );
    await frame(
      'never-closed body',
      `multipart/form-data; boundary=${b}`,
      `--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nno closing boundary`,
    );
    // Over RFC 2046's 70 characters, but bounded by Node's header limit: parsed like any other.
    const long = await frame(
      '4,000-byte boundary',
      `multipart/form-data; boundary=${'q'.repeat(4000)}`,
      `--${'q'.repeat(4000)}\r\nContent-Disposition: form-data; name="file"; filename="b.txt"\r\n\r\ny\r\n--${'q'.repeat(4000)}--\r\n`,
      false,
    );
    expect(await svc.core.catalog.countResources()).toBe(before + accepted + (long.status < 400 ? 1 : 0));
  }, 60_000);

  it('the service is alive and memory stayed bounded', async () => {
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    // API and worker share this process: the bombs and 8 MiB uploads must not have
    // made it hold anything like their decoded size (36 MP, 100k×100k headers…).
    expect(rssPeak - rssBefore).toBeLessThan(400 * 1024 * 1024);
  });
});

const mb = (n: number) => `${Math.round(n / 1024 / 1024)}MiB`;
