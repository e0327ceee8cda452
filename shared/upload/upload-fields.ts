import { InvalidRequestError } from '../errors.js';
import type { Visibility } from '../model.js';

/** The form fields an upload may carry besides its file parts (docs/api.md, "Upload"). */
export interface UploadFields {
  title: string | null;
  tags: string[];
  visibility: Visibility;
  noExif: boolean;
  created: string | null;
  modified: string | null;
}

export const MAX_TAGS = 100;
const MAX_TITLE = 1000;
const MAX_TAG = 200;

/**
 * Validate one field as it arrives, so a bad field aborts the upload before the file
 * parts after it are stored. Unknown fields are ignored, as multipart clients expect.
 */
export class UploadFieldsBuilder {
  private readonly f: UploadFields = { title: null, tags: [], visibility: 'private', noExif: false, created: null, modified: null };

  add(name: string, value: string): void {
    switch (name) {
      case 'title':
        if (value.length > MAX_TITLE)
          throw new InvalidRequestError(`Expected title of at most ${MAX_TITLE} characters but received ${value.length}.`);
        this.f.title = value;
        break;
      case 'tags':
      case 'tags[]':
      case 'tag':
        for (const t of value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)) {
          if (t.length > MAX_TAG)
            throw new InvalidRequestError(`Expected each tag to be at most ${MAX_TAG} characters but one has ${t.length}.`);
          if (!this.f.tags.includes(t)) this.f.tags.push(t);
        }
        if (this.f.tags.length > MAX_TAGS)
          throw new InvalidRequestError(`Expected at most ${MAX_TAGS} tags but received ${this.f.tags.length}.`);
        break;
      case 'visibility':
        if (value !== 'private' && value !== 'public') {
          throw new InvalidRequestError(
            `Expected visibility to be "private" or "public" but received ${JSON.stringify(value.slice(0, 40))}.`,
          );
        }
        this.f.visibility = value;
        break;
      case 'no_exif':
        this.f.noExif = parseFlag('no_exif', value);
        break;
      case 'created':
      case 'modified':
        this.f[name] = parseDate(name, value);
        break;
      default:
        break;
    }
  }

  build(): UploadFields {
    return { ...this.f, tags: [...this.f.tags] };
  }
}

export function parseFlag(name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['', '0', 'false', 'no', 'off'].includes(v)) return false;
  throw new InvalidRequestError(`Expected ${name} to be 1/0 or true/false but received ${JSON.stringify(value.slice(0, 40))}.`);
}

/** ISO 8601 date or date-time (normalised to UTC), or epoch seconds (10 digits) / milliseconds (13). */
export function parseDate(name: string, value: string): string {
  const v = value.trim();
  const ms = /^\d{10}$/.test(v)
    ? Number(v) * 1000
    : /^\d{13}$/.test(v)
      ? Number(v)
      : /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)
        ? Date.parse(v)
        : NaN;
  if (Number.isNaN(ms)) {
    throw new InvalidRequestError(
      `Expected ${name} to be an ISO 8601 date such as 2024-05-01T12:00:00Z but received ${JSON.stringify(v.slice(0, 40))}.`,
    );
  }
  return new Date(ms).toISOString();
}
