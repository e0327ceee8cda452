import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type TestService } from '../harness/service.js';
import { ARTIFACTS, buildConsole, CHROMIUM, launch, ROOT } from './chromium.js';

/** A small landscape (sky, sun, hills) drawn from SVG by sharp: a real JPEG, a different one per palette. */
function landscape(width: number, height: number, sky: [string, string], sun: string, hills: [string, string]): Buffer {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="s" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${sky[0]}"/><stop offset="1" stop-color="${sky[1]}"/></linearGradient></defs>
  <rect width="100%" height="100%" fill="url(#s)"/>
  <circle cx="${width * 0.7}" cy="${height * 0.35}" r="${height * 0.12}" fill="${sun}"/>
  <path d="M0 ${height * 0.7} Q ${width * 0.25} ${height * 0.5} ${width * 0.5} ${height * 0.68} T ${width} ${height * 0.62} V ${height} H 0 Z" fill="${hills[0]}"/>
  <path d="M0 ${height * 0.85} Q ${width * 0.4} ${height * 0.7} ${width} ${height * 0.82} V ${height} H 0 Z" fill="${hills[1]}"/>
</svg>`);
}

/** Three real, different JPEGs; two carry an EXIF Artist for the mapping to pick up. */
async function photos(dir: string): Promise<string[]> {
  const palettes: [[string, string], string, [string, string]][] = [
    [['#f7b267', '#f25c54'], '#fff3b0', ['#6a4c93', '#3d2c5e']],
    [['#8ecae6', '#e0f4ff'], '#ffd166', ['#52b788', '#2d6a4f']],
    [['#1d3557', '#457b9d'], '#f1faee', ['#264653', '#0b2027']],
  ];
  return Promise.all(
    palettes.map(async ([sky, sun, hills], i) => {
      const file = path.join(dir, `photo-${i + 1}.jpg`);
      let img = sharp(landscape(640 + i * 40, 480, sky, sun, hills)).jpeg({ quality: 85 });
      if (i < 2) img = img.withExif({ IFD0: { Artist: `Artist ${i + 1}`, ImageDescription: `photo ${i + 1}` } });
      await img.toFile(file);
      return file;
    }),
  );
}

// Steps wait for real uploads, jobs and renders on a shared 2-core machine: room to spare.
describe.skipIf(!CHROMIUM)(
  CHROMIUM ? 'web console in headless Chromium' : 'skipped: no Chromium at /usr/bin/chromium (apt-get install chromium)',
  { timeout: 120_000 },
  () => {
    let svc: TestService;
    let browser: Browser;
    let page: Page;
    let origin: string;
    const problems: string[] = [];
    const requests: string[] = [];
    /** Answers of 400 and above: a browser logs each as a failed request. */
    const refusals: string[] = [];
    let shot = 0;
    const screenshot = async (name: string) =>
      page.screenshot({ path: path.join(ARTIFACTS, `${String(++shot).padStart(2, '0')}-${name}.png`) });

    beforeAll(async () => {
      buildConsole();
      await fs.mkdir(ARTIFACTS, { recursive: true });
      svc = await startService('fs');
      origin = new URL(svc.url).origin;
      browser = await launch();
      page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
      page.on('request', (r) => requests.push(r.url()));
      page.on('response', (r) => r.status() >= 400 && refusals.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`));
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      await svc?.close();
    });

    it('loads under a strict CSP, from this origin only, and measures itself', async () => {
      const res = await fetch(`${svc.url}/console`);
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');

      const started = Date.now();
      await page.goto(`${origin}/console`);
      await page.getByTestId('api-key').waitFor();
      const firstLoadMs = Date.now() - started;
      const nav = await page.evaluate(
        () =>
          JSON.parse(JSON.stringify(performance.getEntriesByType('navigation')[0])) as {
            domContentLoadedEventEnd: number;
            loadEventEnd: number;
          },
      );

      const assets = await fs.readdir(path.join(ROOT, 'dist', 'console', 'assets'));
      let raw = 0;
      let gz = 0;
      for (const f of assets) {
        const bytes = await fs.readFile(path.join(ROOT, 'dist', 'console', 'assets', f));
        raw += bytes.length;
        gz += gzipSync(bytes).length;
      }
      // Figures for docs/console.md; a record, not an assertion on time.
      await fs.writeFile(
        path.join(ARTIFACTS, 'figures.json'),
        JSON.stringify(
          {
            bundleBytes: raw,
            bundleGzipBytes: gz,
            firstLoadMs,
            domContentLoadedMs: Math.round(nav.domContentLoadedEventEnd),
            loadMs: Math.round(nav.loadEventEnd),
          },
          null,
          2,
        ),
      );
      await screenshot('sign-in');
    });

    it('refuses a wrong key with the reason, then signs in with the right one', async () => {
      await page.getByTestId('api-key').fill('not-the-key-0123456789');
      await page.getByTestId('api-key-submit').click();
      await page.getByText('The API key is not valid.').waitFor();
      // The refusal is the 401 the console asked for; nothing else may complain.
      problems.splice(0, problems.length, ...problems.filter((p) => !/401/.test(p)));
      await page.getByTestId('api-key').fill(svc.key);
      await page.getByTestId('api-key-submit').click();
      await page.getByTestId('upload-input').waitFor({ state: 'attached' });
      expect(await page.evaluate(() => Object.values(sessionStorage))).toContain(svc.key);
      expect(await page.evaluate(() => Object.values(localStorage))).not.toContain(svc.key);
      // The harness's key is an admin key too.
      await page.locator('.badge', { hasText: 'admin' }).waitFor();
    });

    it('uploads three files chosen in the picker at once, and shows them as thumbnails', async () => {
      const dir = await fs.mkdtemp(path.join(ARTIFACTS, 'tmp-'));
      try {
        await page.getByTestId('upload-input').setInputFiles(await photos(dir));
        // Each line ends in its outcome, without another click.
        await page.waitForFunction(
          () =>
            [...document.querySelectorAll('[data-testid="upload-outcome"]')].filter((e) => e.textContent?.startsWith('ready')).length === 3,
          null,
          { timeout: 90_000 },
        );
        await page.waitForFunction(
          () => {
            const imgs = [...document.querySelectorAll<HTMLImageElement>('[data-testid="resource"] img')];
            return imgs.length === 3 && imgs.every((i) => i.complete && i.naturalWidth > 0);
          },
          null,
          { timeout: 60_000 },
        );
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
      const ids = await page.locator('[data-testid="resource"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-resource-id')));
      expect(ids).toHaveLength(3);
      for (const id of ids) expect((await (await svc.fetch(`/v1/resources/${id}`)).json()).status).toBe('ready');
      await screenshot('library');
    });

    it('uploading the same file again says which resource it duplicates', async () => {
      const dir = await fs.mkdtemp(path.join(ARTIFACTS, 'tmp-'));
      try {
        const [first] = await photos(dir);
        await page.getByTestId('upload-input').setInputFiles([first!]);
        await page.waitForFunction(
          () => [...document.querySelectorAll('[data-testid="upload-outcome"]')].some((e) => e.textContent?.startsWith('duplicate of #')),
          null,
          { timeout: 60_000 },
        );
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
      // The README's picture (docs/console.png) is this one.
      await page.screenshot({ path: path.join(ARTIFACTS, 'console.png'), clip: { x: 0, y: 0, width: 1280, height: 600 } });
    });

    it('takes files dropped on the panel, and filters the grid by type', async () => {
      const dropped = await page.evaluateHandle(() => {
        const dt = new DataTransfer();
        dt.items.add(new File([`notes ${Date.now()}`], 'notes.txt', { type: 'text/plain' }));
        return dt;
      });
      await page.dispatchEvent('.drop', 'drop', { dataTransfer: dropped });
      await page
        .locator('[data-testid="upload-item"]', { hasText: 'notes.txt' })
        .getByText(/^ready/)
        .waitFor({ timeout: 60_000 });
      await page.locator('[data-testid="resource"]').nth(3).waitFor();
      await page.getByLabel('Type').selectOption('file');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="resource"]').length === 1);
      await expect(page.locator('[data-testid="resource"]').textContent()).resolves.toContain('notes.txt');
      await page.getByLabel('Type').selectOption('image');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="resource"] img').length === 3);
      await page.getByLabel('Type').selectOption('');
    });

    it('opens a resource: renditions, fields, metadata and its jobs', async () => {
      await page.locator('[data-testid="resource"]').first().click();
      await page.getByTestId('resource-page').waitFor();
      await page.waitForFunction(() => {
        const imgs = [...document.querySelectorAll<HTMLImageElement>('.renditions img')];
        return imgs.length >= 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
      });
      await page.getByTestId('jobs').getByText('completed').first().waitFor();
      await expect(page.getByTestId('mappings-version').textContent()).resolves.toBe('1');
      await screenshot('resource');
    });

    it('edits a mapping: the bad tag is refused next to its field, the fixed one saved', async () => {
      await page.goto(`${origin}/console#/mappings`);
      await page.getByTestId('mapping-field').first().waitFor();
      await page.getByRole('button', { name: 'Add field' }).click();
      const row = page.getByTestId('mapping-field').last();
      await row.getByTestId('mapping-name').fill('artist');
      await row.getByTestId('mapping-tags').fill('Artist');
      await page.getByTestId('mappings-save').click();
      await expect(row.getByTestId('mapping-error').textContent()).resolves.toMatch(/fields\.artist\.tags\[0\]: expected "Group:Tag"/);
      problems.splice(0, problems.length, ...problems.filter((p) => !/400/.test(p)));
      await screenshot('mapping-error');
      await row.getByTestId('mapping-tags').fill('EXIF:Artist');
      await page.getByTestId('mappings-save').click();
      await page.getByTestId('mappings-note').getByText('Saved as version 2').waitFor();
      expect((await (await svc.fetch('/v1/mappings')).json()).fields.artist).toEqual({ tags: ['EXIF:Artist'], type: 'text' });
    });

    it('runs a bulk revert and follows the batch to completion', async () => {
      await page.locator('.bulk select').selectOption('default');
      await page.getByTestId('bulk-revert-start').click();
      await page.locator('[data-testid="batch"][data-state="completed"]').waitFor({ timeout: 90_000 });
      await expect(page.locator('.batch').textContent()).resolves.toContain('100%');
      await screenshot('batch');
      const { resources } = await (await svc.fetch('/v1/resources')).json();
      expect(resources.map((r: { fields: { artist?: string } }) => r.fields.artist).sort()).toEqual([
        'Artist 1',
        'Artist 2',
        undefined,
        undefined,
      ]);
    });

    it('shows the new field on the resource page after the revert', async () => {
      const { resources } = await (await svc.fetch('/v1/resources')).json();
      const withArtist = resources.find((r: { fields: { artist?: string } }) => r.fields.artist);
      await page.goto(`${origin}/console#/resources/${withArtist.id}`);
      await page.locator('[data-testid="fields"] tr[data-field="artist"]').getByText(withArtist.fields.artist).waitFor();
      await expect(page.getByTestId('mappings-version').textContent()).resolves.toBe('2');
    });

    it('reverts one resource from its page, then deletes it', async () => {
      const { resources } = await (await svc.fetch('/v1/resources?type=file')).json();
      const id = resources[0].id as number;
      await page.goto(`${origin}/console#/resources/${id}`);
      await page.getByTestId('revert').click();
      await page.getByTestId('resource-note').getByText('Revert done.').waitFor({ timeout: 60_000 });
      await page
        .getByTestId('jobs')
        .getByText(new RegExp(`ingest-${id}-1-r`))
        .waitFor();
      page.once('dialog', (d) => void d.accept());
      await page.getByTestId('delete').click();
      await page.waitForFunction(() => location.hash === '#/');
      expect((await svc.fetch(`/v1/resources/${id}`)).status).toBe(404);
      await page.locator(`[data-testid="resource"][data-resource-id="${id}"]`).waitFor({ state: 'detached' });
    });

    it('shows queue depth per lane, with the dashboard link for an admin key', async () => {
      await page.goto(`${origin}/console#/queues`);
      await page.getByTestId('lanes').getByText('ingest').first().waitFor();
      await expect(page.getByTestId('dashboard-link').getAttribute('href')).resolves.toBe('/admin/queues');
      await screenshot('queues');
    });

    it('sends a large file through tus, goes on after a cut connection, and stores the same bytes', async () => {
      await page.goto(`${origin}/console`);
      await page.getByTestId('upload-input').waitFor({ state: 'attached' });
      const dir = await fs.mkdtemp(path.join(ARTIFACTS, 'tmp-'));
      const bytes = randomBytes(9 * 1024 * 1024); // above the console's 8 MiB tus threshold
      const file = path.join(dir, 'large.bin');
      await fs.writeFile(file, bytes);
      // The first PATCH is cut before it reaches the API, as a dropped connection would.
      const calls: string[] = [];
      await page.route(
        (url) => url.pathname.includes('/tus'),
        async (route) => {
          const method = route.request().method();
          calls.push(method);
          if (method === 'PATCH' && calls.filter((m) => m === 'PATCH').length === 1) await route.abort('connectionreset');
          else await route.continue();
        },
      );
      try {
        await page.getByTestId('upload-input').setInputFiles([file]);
        const line = page.locator('[data-testid="upload-item"]', { hasText: 'large.bin' });
        await expect(line.getAttribute('data-transport')).resolves.toBe('tus');
        await line.getByText(/^ready/).waitFor({ timeout: 90_000 });
        const id = (await line.locator('a').first().getAttribute('href'))!.replace('#/resources/', '');
        const resource = await (await svc.fetch(`/v1/resources/${id}`)).json();
        expect(resource.checksum).toBe(createHash('sha256').update(bytes).digest('hex'));
        expect(resource.size).toBe(bytes.length);
        // Created once, cut, asked where it stood, then sent again.
        expect(calls.slice(0, 2)).toEqual(['POST', 'PATCH']);
        expect(calls.filter((m) => m === 'PATCH').length).toBeGreaterThanOrEqual(2);
        expect(calls).toContain('HEAD');
      } finally {
        await page.unroute((url) => url.pathname.includes('/tus'));
        await fs.rm(dir, { recursive: true, force: true });
      }
      // The cut the test made is the only failure a browser may report for it.
      problems.splice(0, problems.length, ...problems.filter((p) => !/ERR_CONNECTION_RESET|net::ERR_FAILED/.test(p)));
    });

    it('serves /docs (Swagger UI) from local assets under the same CSP', async () => {
      await page.goto(`${origin}/docs`);
      await page.locator('.swagger-ui .info .title').getByText('media-ingest').waitFor({ timeout: 30_000 });
      await page.locator('.opblock-summary-path', { hasText: '/v1/resources' }).first().waitFor();
      await screenshot('docs');
    });

    it('made every request to its own origin, and nothing complained', () => {
      const foreign = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('blob:') && !u.startsWith('data:'));
      expect(foreign).toEqual([]);
      expect(problems).toEqual([]);
      // Only the two refusals the test asked for: the wrong key, and the bad mapping.
      expect(refusals).toEqual(['401 GET /v1/whoami', '400 PUT /v1/mappings']);
    });
  },
);
