import { expect } from 'vitest';
import type { TestService } from './service.js';

/** A library made as a client makes one (`POST /v1/libraries`); anything but 201 fails the test. */
export async function createLibrary(svc: TestService, body: { name: string; dedupe?: string }): Promise<{ id: number; name: string }> {
  const res = await svc.fetch('/v1/libraries', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { id: number; name: string };
}
