import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { InvalidRequestError } from '../errors.js';
import type { Library, LibrarySource } from '../model.js';

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const EXAMPLE = '{"type":"fs","path":"/mnt/photos"} or {"type":"s3","bucket":"old-dam","prefix":"images/"}';

/**
 * Checks a library's `source` as a client sent it and returns what is kept. An `fs` path
 * is resolved with realpath — `..` and symlinks included — and must then lie under one
 * of EXTERNAL_ROOTS (themselves resolved): the service never reads a folder the operator
 * did not open to it. An `s3` source is checked by listing one key of it, so a wrong
 * bucket or key is a 400 now and not a failed scan later.
 */
export async function parseLibrarySource(raw: unknown, config: Config): Promise<LibrarySource> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw bad(`Expected source to be an object like ${EXAMPLE} but received ${JSON.stringify(raw)?.slice(0, 60)}.`);
  const o = raw as Record<string, unknown>;
  if (o.type === 'fs') {
    unknownMembers(o, ['type', 'path']);
    return { type: 'fs', path: await checkFolder(o.path, config.external.roots) };
  }
  if (o.type === 's3') {
    unknownMembers(o, ['type', 'bucket', 'prefix', 'credentials']);
    if (typeof o.bucket !== 'string' || !BUCKET_NAME.test(o.bucket))
      throw bad(
        `Expected source.bucket to be a bucket name (3-63 characters of a-z 0-9 . -) but received ${JSON.stringify(o.bucket)?.slice(0, 80)}.`,
      );
    const prefix = o.prefix ?? '';
    if (typeof prefix !== 'string' || prefix.length > 512 || prefix.startsWith('/'))
      throw bad(
        `Expected source.prefix to be a key prefix like "images/" (no leading "/") but received ${JSON.stringify(prefix)?.slice(0, 80)}.`,
      );
    if (config.storage.driver !== 's3')
      throw bad(
        'An s3 source is read from the configured S3 endpoint, and this service has none (STORAGE_DRIVER=fs); use an fs source or run with STORAGE_DRIVER=s3.',
      );
    const source: LibrarySource = { type: 's3', bucket: o.bucket, prefix };
    if (o.credentials !== undefined) {
      const c = o.credentials as Record<string, unknown> | null;
      if (
        !c ||
        typeof c !== 'object' ||
        typeof c.accessKey !== 'string' ||
        typeof c.secretKey !== 'string' ||
        !c.accessKey ||
        !c.secretKey
      ) {
        throw bad(
          'Expected source.credentials to be {"accessKey":"…","secretKey":"…"} (or left out to use the service\'s S3 credentials).',
        );
      }
      source.credentials = { accessKey: c.accessKey, secretKey: c.secretKey };
    }
    const { s3Probe } = await import('./s3-source.js');
    const problem = await s3Probe(config, source);
    if (problem) throw bad(`The s3 source cannot be listed: ${problem}; check the bucket, the prefix and the credentials.`);
    return source;
  }
  throw bad(`Expected source.type to be "fs" or "s3" but received ${JSON.stringify(o.type)?.slice(0, 40)}; e.g. ${EXAMPLE}.`);
}

async function checkFolder(p: unknown, roots: readonly string[]): Promise<string> {
  if (typeof p !== 'string' || !p.startsWith('/') || p.length > 4096 || p.includes('\0'))
    throw bad(`Expected source.path to be an absolute folder path but received ${JSON.stringify(p)?.slice(0, 80)}.`);
  if (roots.length === 0)
    throw bad('This service takes no fs sources: EXTERNAL_ROOTS is empty (the operator lists the folders libraries may read).');
  let real: string;
  try {
    real = await fs.realpath(p);
  } catch {
    throw bad(`source.path ${JSON.stringify(p)} does not exist or cannot be read; give a folder under EXTERNAL_ROOTS.`);
  }
  const realRoots = await Promise.all(roots.map((r) => fs.realpath(r).catch(() => undefined)));
  if (!realRoots.some((r) => r !== undefined && isInside(r, real))) {
    throw bad(
      `source.path ${JSON.stringify(p)} is not under EXTERNAL_ROOTS (after resolving ".." and symlinks); give a folder under one of them.`,
    );
  }
  if (!(await fs.stat(real)).isDirectory()) throw bad(`source.path ${JSON.stringify(p)} is not a folder.`);
  return real;
}

/** `child` is `root` or below it (both resolved). */
export function isInside(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** What clients see of a source: never its credentials. */
export function sourceView(source: LibrarySource): Record<string, unknown> {
  if (source.type === 'fs') return { type: 'fs', path: source.path };
  return { type: 's3', bucket: source.bucket, prefix: source.prefix, ...(source.credentials ? { credentials: 'set' } : {}) };
}

/** A library as clients see it with respect to its source. */
export function withoutSecrets(lib: Library): Library {
  if (!lib.source) return lib;
  return { ...lib, source: sourceView(lib.source) as unknown as LibrarySource };
}

function unknownMembers(o: Record<string, unknown>, known: string[]): void {
  const extra = Object.keys(o).filter((k) => !known.includes(k));
  if (extra.length) throw bad(`Unknown member source.${extra[0]}; a ${String(o.type)} source has ${known.join(', ')}.`);
}

function bad(message: string): InvalidRequestError {
  return new InvalidRequestError(message);
}
