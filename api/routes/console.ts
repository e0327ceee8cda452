import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { NotFoundError } from '../../shared/errors.js';
import type { AppEnv } from '../deps.js';
import { problemResponse } from '../error-handler.js';
import { pageSecurity } from '../middleware/page-security.js';

/** dist/console beside the sources (tsx: api/routes → ../..) or the compiled files (dist/api/routes → ../../..). */
function consoleDir(): string {
  const base = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const root = path.basename(base) === 'dist' ? path.dirname(base) : base;
  return path.join(root, 'dist', 'console');
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/**
 * `GET /console`: the web console, a single page built from console/ by `npm run
 * build:console` into dist/console (an index.html and content-hashed assets, cached
 * for good). No key to load it: the page holds no data; it asks for an API key and
 * sends it with every request it makes.
 */
export function consoleRoutes() {
  const app = new Hono<AppEnv>();
  const dir = consoleDir();
  app.use('/console', pageSecurity());
  app.use('/console/*', pageSecurity());

  app.get('/console', async (c) => {
    let index: string;
    try {
      index = await fs.readFile(path.join(dir, 'index.html'), 'utf8');
    } catch {
      const detail =
        'The console is not built on this server: run `npm run build:console` (npm start, npm run api and npm test do it first).';
      return problemResponse(c, { status: 404, code: 'not_found', detail, extra: {} });
    }
    c.header('Cache-Control', 'no-cache');
    return c.html(index);
  });
  app.get('/console/', (c) => c.redirect('/console', 301));
  app.get('/console/assets/:file', async (c) => {
    const file = c.req.param('file');
    const type = TYPES[path.extname(file)];
    if (!type || !/^[\w.-]+$/.test(file)) throw new NotFoundError('console asset', file.slice(0, 80));
    let body: Buffer;
    try {
      body = await fs.readFile(path.join(dir, 'assets', file));
    } catch {
      throw new NotFoundError('console asset', file);
    }
    return c.body(new Uint8Array(body), 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=31536000, immutable' });
  });
  return app;
}
