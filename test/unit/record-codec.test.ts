// The compact record string (shared/catalog/codec.ts): what is left out comes back,
// and records written by earlier versions still read the same.
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord } from '../../shared/catalog/codec.js';

/** A tagged photo as the previous version wrote it: field names, boxes and formats spelled out. */
const EARLIER =
  '{"t":"image","w":160,"h":120,"r":1,"D":"image/jpeg","M":1,"x":"jpg","R":"thumbnail,200,200,160,120,webp,8942;small,480,480,160,120,webp,10122;medium,1024,1024,160,120,webp,10122;large,2048,2048,160,120,webp,10626",' +
  '"F":{"description":"Harbour at dawn, boats leaving","creator":"A. Photographer","copyright":"(c) 2026 A. Photographer","capturedAt":"2026-05-01T06:12:00+02:00","make":"Acme","model":"Model 7"},' +
  '"m":"image/jpeg","z":11328,"c":"R39WDEDkNFty9fNF0RtM8kaQN-r4nLieyARcqVsORts","d":1796164790454,"s":"ready","i":1234,"l":1,"f":"photo-1234.jpg"}';

describe('record codec', () => {
  it('reads a record of the earlier form and writes it back shorter, with nothing lost', () => {
    const rec = decodeRecord(EARLIER)!;
    expect(rec.declaredType).toBe('image/jpeg');
    expect(rec.fields).toMatchObject({ description: 'Harbour at dawn, boats leaving', make: 'Acme' });
    expect(rec.renditions[0]).toEqual({
      name: 'thumbnail',
      width: 160,
      height: 120,
      format: 'webp',
      size: 8942,
      url: '/image/200x200/1234.webp',
    });
    expect(rec.renditions[3]!.url).toBe('/image/2048x2048/1234.webp');
    const s = encodeRecord(rec);
    expect(decodeRecord(s)).toEqual(rec);
    // Default presets by index, default field names by code, declaredType = mimeType as 0.
    expect(s).toContain('"R":"0,160,120,8942;1,160,120,10122;2,160,120,10122;3,160,120,10626"');
    expect(s).toContain('"N":{"_1":"Harbour at dawn, boats leaving"');
    expect(s).toContain('"D":0');
    // Under 448 bytes with Redis' string header: one jemalloc size class below 512.
    expect(s.length).toBeLessThanOrEqual(440);
  });

  it('spells out what is not a default: other presets, other boxes, other fields, a declared type that differs', () => {
    const rec = decodeRecord(EARLIER)!;
    rec.declaredType = 'application/octet-stream';
    rec.fields = { shotAt: '2026-05-01', make: 'Acme' };
    rec.renditions = [
      { name: 'thumbnail', width: 300, height: 300, format: 'webp', size: 1, url: '/image/300x300/1234.webp' },
      { name: 'small', width: 160, height: 120, format: 'jpeg', size: 2, url: '/image/480x480/1234.jpg' },
      { name: 'hero', width: 160, height: 120, format: 'jpeg', size: 3, url: '/image/1920x0/1234.jpg' },
    ];
    const s = encodeRecord(rec);
    expect(s).toContain('"R":"thumbnail,300,300,300,300,webp,1;small,480,480,160,120,jpeg,2;hero,1920,0,160,120,jpeg,3"');
    expect(s).toContain('"N":{"shotAt":"2026-05-01","_6":"Acme"}');
    expect(decodeRecord(s)).toEqual(rec);
    expect(Object.keys(decodeRecord(s)!.fields)).toEqual(['shotAt', 'make']);
  });
});
