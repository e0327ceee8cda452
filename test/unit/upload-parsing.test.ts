import { describe, expect, it } from 'vitest';
import { sniffType, extensionOf } from '../../shared/upload/sniff.js';
import { sanitizeFileName } from '../../shared/upload/file-name.js';
import { parseDate, UploadFieldsBuilder } from '../../shared/upload/upload-fields.js';
import { InspectStream } from '../../shared/upload/inspect-stream.js';
import { PayloadTooLargeError } from '../../shared/errors.js';
import { makeJpeg, makePng } from '../harness/images.js';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';

describe('sniffType: the bytes decide, not the name', () => {
  it('recognises images by magic number whatever the name says', async () => {
    expect(await sniffType(await makeJpeg(4, 4), 'photo.png')).toEqual({ mimeType: 'image/jpeg', extension: 'jpg', type: 'image' });
    expect(await sniffType(await makePng(4, 4), 'noext')).toEqual({ mimeType: 'image/png', extension: 'png', type: 'image' });
  });
  it('stores text named .jpg as text', async () => {
    expect(await sniffType(Buffer.from('hello\n'), 'x.jpg')).toEqual({ mimeType: 'text/plain', extension: 'txt', type: 'file' });
    expect(await sniffType(Buffer.from('{"a":1}'), 'data.json')).toEqual({ mimeType: 'application/json', extension: 'json', type: 'file' });
  });
  it('treats SVG as a file (text that can carry script), and unknown binary as octet-stream', async () => {
    expect(await sniffType(Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>'), 'a.svg')).toMatchObject({
      mimeType: 'image/svg+xml',
      type: 'file',
    });
    expect(await sniffType(Buffer.from([0, 1, 2, 3, 250, 251]), 'blob.bin')).toEqual({
      mimeType: 'application/octet-stream',
      extension: 'bin',
      type: 'file',
    });
  });
  it('extracts a safe extension or none', () => {
    expect(extensionOf('A.JPG')).toBe('jpg');
    expect(extensionOf('.bashrc')).toBe('');
    expect(extensionOf('x.tar.gz')).toBe('gz');
    expect(extensionOf('evil.ph p')).toBe('');
  });
});

describe('sanitizeFileName', () => {
  it('keeps only the last path segment, without control characters', () => {
    expect(sanitizeFileName('../../etc/passwd')).toBe('passwd');
    expect(sanitizeFileName('C:\\Users\\me\\a.jpg')).toBe('a.jpg');
    expect(sanitizeFileName('a\u0000b\nc.txt')).toBe('abc.txt');
    expect(sanitizeFileName('..')).toBe('upload');
    expect(sanitizeFileName(undefined)).toBe('upload');
  });
  it('normalises to NFC and caps at 255 UTF-8 bytes on a character boundary', () => {
    expect(sanitizeFileName('Cre\u0301mieux.tiff')).toBe('Crémieux.tiff');
    const long = sanitizeFileName('é'.repeat(300));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(255);
    expect(long).toBe('é'.repeat(127));
  });
});

describe('UploadFieldsBuilder', () => {
  it('collects fields with defaults and de-duplicated tags', () => {
    const b = new UploadFieldsBuilder();
    b.add('title', 'T');
    b.add('tags', 'a, b');
    b.add('tags', 'b');
    b.add('no_exif', '1');
    b.add('unknown', 'ignored');
    expect(b.build()).toEqual({ title: 'T', tags: ['a', 'b'], visibility: 'private', noExif: true, created: null, modified: null });
  });
  it('refuses bad values with what was expected', () => {
    const b = new UploadFieldsBuilder();
    expect(() => b.add('no_exif', 'maybe')).toThrow('Expected no_exif to be 1/0 or true/false but received "maybe".');
    expect(() => b.add('tags', 'x'.repeat(201))).toThrow(/at most 200 characters/);
  });
  it('parses dates: ISO with offset, date only, epoch seconds and milliseconds', () => {
    expect(parseDate('created', '2024-05-01T12:00:00+02:00')).toBe('2024-05-01T10:00:00.000Z');
    expect(parseDate('created', '2024-05-01')).toBe('2024-05-01T00:00:00.000Z');
    expect(parseDate('created', '1714557600')).toBe('2024-05-01T10:00:00.000Z');
    expect(parseDate('created', '1714557600000')).toBe('2024-05-01T10:00:00.000Z');
    expect(() => parseDate('created', '2024-13-45')).toThrow(/ISO 8601/);
  });
});

describe('InspectStream', () => {
  it('counts, hashes and keeps the head in one pass', async () => {
    const data = Buffer.alloc(100_000, 9);
    const s = new InspectStream(1_000_000);
    await pipeline(Readable.from([data.subarray(0, 3), data.subarray(3)]), s, new Writable({ write: (_c, _e, cb) => cb() }));
    expect(s.bytes).toBe(100_000);
    expect(s.sha256()).toBe(createHash('sha256').update(data).digest('hex'));
    expect(s.head().length).toBe(4100);
  });
  it('errors with PayloadTooLargeError past the limit', async () => {
    const s = new InspectStream(10);
    await expect(pipeline(Readable.from([Buffer.alloc(11)]), s, new Writable({ write: (_c, _e, cb) => cb() }))).rejects.toBeInstanceOf(
      PayloadTooLargeError,
    );
  });
});
