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
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown>; required?: string[] } }> }; 'x-validated-by-schema'?: boolean }>>;
      components: { securitySchemes: Record<string, { scheme: string }> };
    };
    expect(doc.openapi).toBe('3.1.0');
    const hook = doc.paths['/v1/libraries/{library}/webhook']!;
    expect(Object.keys(hook).sort()).toEqual(['delete', 'get', 'put']);
    expect(hook.put!.requestBody!.content['application/json']!.schema.required).toEqual(['url']);
    expect(hook.put!['x-validated-by-schema']).toBeUndefined();
    // The upload route is listed, marked as documented by hand.
    expect(doc.paths['/v1/libraries/{library}/files']!.post!['x-validated-by-schema']).toBe(false);
    expect(doc.components.securitySchemes.bearer!.scheme).toBe('bearer');
  });

  it('serves Swagger UI over it at /docs', async () => {
    const res = await fetch(`${svc.url}/docs`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('SwaggerUIBundle');
    expect(html).toContain('/openapi.json');
  });

  it('validates requests with the same schemas, answering problem+json 400s that name the member', async () => {
    const put = (body: string) => svc.fetch('/v1/libraries/default/webhook', { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
    const wrongType = await put('{"url": 5}');
    expect(wrongType.status).toBe(400);
    expect(wrongType.headers.get('content-type')).toBe('application/problem+json');
    expect(((await wrongType.json()) as { detail: string }).detail).toMatch(/^The request does not match its schema \(json\): url: .*expected string/i);
    const extra = await put('{"url": "https://example.com/h", "secret": "x"}');
    expect(extra.status).toBe(400);
    expect(((await extra.json()) as { detail: string }).detail).toMatch(/secret/);
    const ok = await put('{"url": "https://example.com/h"}');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ library: 1, url: 'https://example.com/h' });
    // Still behind the key check.
    expect((await fetch(`${svc.url}/v1/libraries/default/webhook`)).status).toBe(401);
  });
});
