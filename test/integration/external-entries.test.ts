import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntryMap } from '../../shared/external/entries.js';
import { REDIS_MODES, startService, type RedisMode, type TestService } from '../harness/service.js';

// The missing pass of a rescan checks a page of entries in one pipeline per Redis node;
// their hashes are spread over every bucket, so on a cluster the page spans all masters.
describe.each<RedisMode>(REDIS_MODES)('external entry map, missing pass (%s redis)', (redis) => {
  let svc: TestService;
  let entries: EntryMap;
  beforeAll(async () => {
    svc = await startService('fs', { redis, worker: false });
    entries = new EntryMap(svc.core.redis, svc.config.redis.prefix);
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('marks what the scan did not see, keeps what it saw, and tells the state of every entry of a page', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `folder/${i}.jpg`);
    // Scan 10 saw them all; an event (20) saw the first 100 again during the next scan (15).
    for (const [i, k] of keys.entries()) await entries.claim(7, k, 1000 + i, 'stamp', 10);
    for (const k of keys.slice(0, 100)) await entries.claim(7, k, 0, 'stamp', 20);

    const first = await entries.sweepMany(7, [...keys, 'never/seen.jpg'], 15, 5_000);
    expect(first.slice(0, 100).every((o) => !o.marked && o.state?.missing === undefined)).toBe(true);
    expect(first.slice(100, 300).every((o) => o.marked && o.state?.missing === 5_000)).toBe(true);
    expect(first.map((o) => o.state?.id).slice(0, 300)).toEqual(keys.map((_, i) => 1000 + i));
    expect(first[300]).toEqual({ marked: false, state: undefined });

    // Again: nothing is marked twice; the states tell since when they are missing.
    const again = await entries.sweepMany(7, keys, 15, 9_000);
    expect(again.filter((o) => o.marked)).toEqual([]);
    expect(again.filter((o) => o.state?.missing === 5_000).length).toBe(200);
    expect(await entries.get(7, keys[299]!)).toMatchObject({ id: 1299, missing: 5_000 });
  });
});
