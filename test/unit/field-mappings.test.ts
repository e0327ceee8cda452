import { describe, expect, it } from 'vitest';
import { applyMappings, DEFAULT_MAPPINGS, parseMappingsDocument } from '../../shared/metadata/field-mappings.js';
import { toDate } from '../../shared/metadata/normalise.js';

describe('mapped field normalisation', () => {
  it('dates: ISO 8601, offset from the value, from EXIF OffsetTime*, UTC for QuickTime, inferred from GPS time, or none', () => {
    expect(toDate('XMP:DateCreated', '2019:07:24 11:25:40+03:00', {})).toBe('2019-07-24T11:25:40+03:00');
    expect(toDate('EXIF:DateTimeOriginal', '2023:10:06 22:53:51', { 'EXIF:OffsetTimeOriginal': '+02:00' })).toBe(
      '2023-10-06T22:53:51+02:00',
    );
    expect(toDate('QuickTime:CreateDate', '2017:02:22 08:20:28', {})).toBe('2017-02-22T08:20:28Z');
    expect(toDate('EXIF:DateTimeOriginal', '2010:05:15 17:12:05', { 'Composite:GPSDateTime': '2010:05:15 15:12:07Z' })).toBe(
      '2010-05-15T17:12:05+02:00',
    );
    expect(toDate('EXIF:DateTimeOriginal', '2005:12:14 14:39:47', {})).toBe('2005-12-14T14:39:47');
    expect(toDate('XMP:DateCreated', '2010:12:12', {})).toBe('2010-12-12');
  });

  it('dates that are not dates are not used: zeros, text, 31 February', () => {
    expect(toDate('EXIF:DateTimeOriginal', '0000:00:00 00:00:00', {})).toBeUndefined();
    expect(toDate('EXIF:DateTimeOriginal', '<?php phpinfo(); ?>', {})).toBeUndefined();
    expect(toDate('EXIF:DateTimeOriginal', '2021:02:31 10:00:00', {})).toBeUndefined();
    // A camera clock 40 minutes off a quarter hour from GPS says nothing about the zone.
    expect(toDate('EXIF:DateTimeOriginal', '2010:05:15 17:52:05', { 'Composite:GPSDateTime': '2010:05:15 15:12:07Z' })).toBe(
      '2010-05-15T17:52:05',
    );
  });

  it('first present tag wins, in MWG order: EXIF description over XMP and IPTC, XMP keywords over IPTC', () => {
    const { fields } = applyMappings(DEFAULT_MAPPINGS, {
      'IPTC:Keywords': ['WRONG1of2-IPTC-Keywords'],
      'XMP:Subject': ['RIGHT1of2-XMP-Keywords', 'RIGHT2of2-XMP-Keywords'],
      'EXIF:ImageDescription': 'RIGHT-EXIF-Description',
      'IPTC:Caption-Abstract': 'WRONG-IPTC-Description',
      'XMP:Description': 'WRONG-XMP-Description',
      'XMP:Rights': 'RIGHT-XMP-Copyright',
      'XMP:Rating': 3,
    });
    expect(fields).toEqual({
      description: 'RIGHT-EXIF-Description',
      tags: ['RIGHT1of2-XMP-Keywords', 'RIGHT2of2-XMP-Keywords'],
      copyright: 'RIGHT-XMP-Copyright',
      rating: 3,
    });
  });

  it('GPS: signed decimals kept, 0,0 is no location; text is trimmed; an unusable value falls through with a warning', () => {
    expect(
      applyMappings(DEFAULT_MAPPINGS, { 'Composite:GPSLatitude': -0.3713, 'Composite:GPSLongitude': 36.0564166666667 }).fields,
    ).toEqual({ latitude: -0.3713, longitude: 36.0564167 });
    expect(
      applyMappings(DEFAULT_MAPPINGS, { 'Composite:GPSLatitude': 0, 'Composite:GPSLongitude': 0, 'EXIF:Make': ' SAMSUNG ' }).fields,
    ).toEqual({ make: 'SAMSUNG' });
    const out = applyMappings(DEFAULT_MAPPINGS, {
      'EXIF:DateTimeOriginal': '<?php phpinfo(); ?>',
      'EXIF:CreateDate': '2008:07:31 17:32:06',
    });
    expect(out.fields.capturedAt).toBe('2008-07-31T17:32:06');
    expect(out.warnings).toEqual([expect.stringContaining('EXIF:DateTimeOriginal is not a usable date for field "capturedAt"')]);
  });
});

describe('mappings documents', () => {
  it('accepts bare lists (type from the default of that name) and typed entries', () => {
    expect(parseMappingsDocument({ fields: { capturedAt: ['XMP:DateCreated'], shot: { tags: ['EXIF:ISO'], type: 'integer' } } })).toEqual({
      capturedAt: { tags: ['XMP:DateCreated'], type: 'date' },
      shot: { tags: ['EXIF:ISO'], type: 'integer' },
    });
  });

  it('refuses a bad document with a 400 naming every offending entry', () => {
    let err: unknown;
    try {
      parseMappingsDocument({
        fields: {
          title: ['XMP:Title', 'Title'],
          'bad name': ['EXIF:Make'],
          when: { tags: ['EXIF:DateTimeOriginal'], type: 'time' },
          empty: [],
        },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'invalid_request' });
    const msg = (err as Error).message;
    expect(msg).toContain('fields.title.tags[1]: expected "Group:Tag"');
    expect(msg).toContain('received "Title"');
    expect(msg).toContain('fields.bad name: expected a field name');
    expect(msg).toContain('fields.when.type: expected one of text, list, date');
    expect(msg).toContain('fields.empty.tags: expected a list of 1-50');
    expect(() => parseMappingsDocument([])).toThrow(/Expected a JSON object \{"fields"/);
  });
});
