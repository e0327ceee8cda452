// The OpenAPI document generated from route schemas, /docs, and request validation
// from the same schemas (answered as problem+json 400s).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type TestService } from '../harness/service.js';

describe('OpenAPI', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService('fs', { worker: false, env: { WEBHOOK_SECRET: 'w'.repeat(32) } });
  });
  afterAll(async () => svc?.close());

  it('serves a 3.1 document built from the route schemas, without a key', async () => {
    const res = await fetch(`${svc.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown>; required?: string[] } }> };
            'x-validated-by-schema'?: boolean;
          }
        >
      >;
      components: { securitySchemes: Record<string, { scheme: string }> };
    };
    expect(doc.openapi).toBe('3.1.0');
    const hook = doc.paths['/v1/libraries/{library}/webhook']!;
    expect(Object.keys(hook).sort()).toEqual(['delete', 'get', 'put']);
    expect(hook.put!.requestBody!.content['application/json']!.schema.required).toEqual(['url']);
    expect(hook.put!['x-validated-by-schema']).toBeUndefined();
    // So are image delivery and signed image URLs.
    expect(Object.keys(doc.paths['/image/{size}/{file}']!).sort()).toEqual(['get', 'head']);
    expect(doc.paths['/image/{size}/{file}']!.get!['x-validated-by-schema']).toBe(false);
    expect(Object.keys(doc.paths['/v1/image-url']!)).toEqual(['get']);
    // The upload routes (streamed multipart, never parsed by a validator) are listed,
    // marked as documented by hand, with their form fields.
    for (const [path, method] of [
      ['/v1/libraries/{library}/files', 'post'],
      ['/v1/resources/{id}/file', 'put'],
    ] as const) {
      const op = doc.paths[path]![method]!;
      expect(op['x-validated-by-schema']).toBe(false);
      expect(Object.keys(op.requestBody!.content['multipart/form-data']!.schema.properties)).toEqual(
        expect.arrayContaining(['file', 'sha256', 'no_exif']),
      );
    }
    // The tus routes, by hand too.
    expect(Object.keys(doc.paths['/v1/libraries/{library}/tus']!).sort()).toEqual(['options', 'post']);
    expect(Object.keys(doc.paths['/v1/libraries/{library}/tus/{id}']!).sort()).toEqual(['delete', 'get', 'head', 'patch']);
    expect(doc.paths['/v1/libraries/{library}/tus/{id}']!.patch!['x-validated-by-schema']).toBe(false);
    expect(doc.components.securitySchemes.bearer!.scheme).toBe('bearer');
  });

  it('lists the native routes declared with schemas, with their schemas', async () => {
    type Op = {
      parameters?: { name: string; in: string }[];
      requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown>; required?: string[] } }> };
      responses: Record<string, unknown>;
      'x-validated-by-schema'?: boolean;
    };
    const doc = (await (await fetch(`${svc.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, Op>> };
    const declared: [string, string, { params?: string[]; query?: string[]; body?: string[]; required?: string[] }][] = [
      ['/v1/libraries', 'post', { body: ['name', 'dedupe', 'presets', 'maxUploadBytes', 'source'], required: ['name'] }],
      ['/v1/libraries/{library}/scan', 'post', { params: ['library'] }],
      ['/v1/libraries', 'get', {}],
      ['/v1/libraries/{library}', 'get', { params: ['library'] }],
      ['/v1/checksums', 'post', { body: ['checksums', 'library'], required: ['checksums'] }],
      ['/v1/checksums/{sha}', 'get', { params: ['sha'], query: ['library'] }],
      ['/v1/resources', 'get', { query: ['library', 'cursor', 'limit', 'status', 'type'] }],
      ['/v1/resources/{id}', 'get', { params: ['id'] }],
      ['/v1/resources/{id}', 'delete', { params: ['id'] }],
      ['/v1/jobs/{id}', 'get', { params: ['id'] }],
      ['/v1/jobs/{id}/wait', 'get', { params: ['id'], query: ['timeout'] }],
      ['/v1/mappings', 'get', {}],
      ['/v1/mappings', 'put', { body: ['fields', 'version'], required: ['fields'] }],
      ['/v1/reprocess', 'post', { body: ['library', 'all', 'staleOnly', 'reread', 'renditions'] }],
      ['/v1/resources/{id}/reprocess', 'post', { params: ['id'], query: ['wait'], body: ['reread', 'renditions'] }],
      ['/v1/batches/{id}', 'get', { params: ['id'] }],
      ['/v1/batches/{id}', 'delete', { params: ['id'] }],
      ['/v1/queues', 'get', {}],
    ];
    for (const [path, method, want] of declared) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method.toUpperCase()} ${path}`).toBeDefined();
      expect(op!['x-validated-by-schema'], `${method.toUpperCase()} ${path}`).toBeUndefined();
      expect(Object.keys(op!.responses).length).toBeGreaterThan(0);
      const names = (where: string) =>
        (op!.parameters ?? [])
          .filter((p) => p.in === where)
          .map((p) => p.name)
          .sort();
      expect(names('path'), `${method.toUpperCase()} ${path}`).toEqual([...(want.params ?? [])].sort());
      expect(names('query'), `${method.toUpperCase()} ${path}`).toEqual([...(want.query ?? [])].sort());
      if (want.body) {
        const schema = op!.requestBody!.content['application/json']!.schema;
        expect(Object.keys(schema.properties).sort(), `${method.toUpperCase()} ${path}`).toEqual([...want.body].sort());
        if (want.required) expect(schema.required).toEqual(want.required);
      } else expect(op!.requestBody, `${method.toUpperCase()} ${path}`).toBeUndefined();
    }
  });

  it('serves Swagger UI over it at /docs from its own assets (no CDN), under a strict CSP', async () => {
    const res = await fetch(`${svc.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'; .*script-src 'self'/);
    const html = await res.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((u) => u !== 'data:,');
    expect(refs.sort()).toEqual(['/docs/assets/init.js', '/docs/assets/swagger-ui-bundle.js', '/docs/assets/swagger-ui.css']);
    expect(html).not.toMatch(/<script>|<style>/);
    for (const ref of refs) {
      const asset = await fetch(`${svc.url}${ref}`);
      expect(asset.status, ref).toBe(200);
      expect(asset.headers.get('content-type'), ref).toMatch(/^text\/(javascript|css)/);
      const text = await asset.text();
      if (ref.endsWith('init.js')) expect(text).toMatch(/SwaggerUIBundle\(\{ url: '\/openapi\.json'/);
      else expect(text.length).toBeGreaterThan(10_000);
    }
    expect((await fetch(`${svc.url}/docs/assets/package.json`)).status).toBe(404);
  });

  it('validates requests with the same schemas, answering problem+json 400s that name the member', async () => {
    const put = (body: string) =>
      svc.fetch('/v1/libraries/default/webhook', { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
    const wrongType = await put('{"url": 5}');
    expect(wrongType.status).toBe(400);
    expect(wrongType.headers.get('content-type')).toBe('application/problem+json');
    expect(((await wrongType.json()) as { detail: string }).detail).toMatch(
      /^The request does not match its schema \(json\): url: .*expected string/i,
    );
    const extra = await put('{"url": "https://example.com/h", "secret": "x"}');
    expect(extra.status).toBe(400);
    expect(((await extra.json()) as { detail: string }).detail).toMatch(/secret/);
    const ok = await put('{"url": "https://example.com/h"}');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ library: 1, url: 'https://example.com/h' });
    // Still behind the key check.
    expect((await fetch(`${svc.url}/v1/libraries/default/webhook`)).status).toBe(401);
  });

  it('validates the native routes with their schemas, after their own checks', async () => {
    const checksums = (body: string, type = 'application/json') =>
      svc.fetch('/v1/checksums', { method: 'POST', headers: { 'content-type': type }, body });
    const sha = 'a'.repeat(64);
    // A library that is neither a name nor an id: refused by the schema.
    const bad = await checksums(JSON.stringify({ checksums: [sha], library: { id: 1 } }));
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
    const problem = (await bad.json()) as { detail: string; code: string; problems: string[] };
    expect(problem.code).toBe('invalid_request');
    expect(problem.detail).toMatch(/^The request does not match its schema \(json\): library: /);
    expect(problem.problems[0]).toMatch(/^library: /);
    // The route's own checks come first, word for word.
    const badSha = await checksums(JSON.stringify({ checksums: [sha, 'nope'], library: { id: 1 } }));
    expect(((await badSha.json()) as { detail: string }).detail).toMatch(/checksums\[1\] to be a SHA-256 as 64 hex digits/);
    expect((await checksums('{"checksums": []}', 'text/plain')).status).toBe(415);
    const ok = await checksums(JSON.stringify({ checksums: [sha.toUpperCase()], library: 'default' }));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ existing: {}, missing: [sha] });
    // An empty body under another content type is still no body where the body is optional.
    const batchless = await svc.fetch('/v1/resources/999999/reprocess', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '',
    });
    expect(batchless.status).toBe(404);
  });
});
