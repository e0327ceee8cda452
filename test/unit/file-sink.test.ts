import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSink, WRITE_BATCH_BYTES } from '../../shared/storage/file-sink.js';
import { until } from '../harness/until.js';
import { chunked } from '../harness/chunked.js';

/** Descriptors this process has open (Linux): a sink must close its file on every path. */
async function openFds(): Promise<number> {
  return (await fs.readdir('/proc/self/fd')).length;
}

describe('FileSink writes a stream to a file in batches', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mi-file-sink-'));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it.each([
    ['empty', 0, [1]],
    ['smaller than a batch, odd chunks', 100_001, [1, 7, 4096, 65_536]],
    ['exactly one batch', WRITE_BATCH_BYTES, [65_536]],
    ['several batches and an odd tail, chunks straddling batch edges', 3 * WRITE_BATCH_BYTES + 12_345, [65_535, 300_000, 3]],
  ])('%s: the file holds exactly the bytes, in order', async (name, size, sizes) => {
    const data = randomBytes(size);
    const file = path.join(dir, name.replace(/\W+/g, '-'));
    await pipeline(Readable.from(chunked(data, sizes)), new FileSink(await fs.open(file, 'wx')));
    expect((await fs.readFile(file)).equals(data)).toBe(true);
  });

  it('a source that fails midway fails the pipeline and leaves the file closed', async () => {
    const before = await openFds();
    const file = path.join(dir, 'failing');
    async function* failing() {
      yield randomBytes(WRITE_BATCH_BYTES + 1);
      throw new Error('client went away');
    }
    await expect(pipeline(Readable.from(failing()), new FileSink(await fs.open(file, 'wx')))).rejects.toThrow('client went away');
    // Closed after the write in flight settles, so shortly after the pipeline fails.
    await until('the file to be closed', async () => (await openFds()) === before, 5_000, 10);
  });
});
