/**
 * A client's file name made safe to store and show: last path segment only, Unicode
 * NFC, no control characters or bidi controls, at most 255 UTF-8 bytes (cut on a character boundary).
 * It is only ever a label — storage keys never contain it.
 */
export function sanitizeFileName(raw: string | undefined, fallback = 'upload'): string {
  let s = (raw ?? '').split(/[\\/]/).pop() ?? '';
  // Bidi embeddings, overrides and isolates too (U+202A–U+202E, U+2066–U+2069): shown
  // in a listing they reverse what follows, so "invoice\u202Egpj.exe" reads "invoiceexe.jpg".
  s = s
    .normalize('NFC')
    // eslint-disable-next-line no-control-regex -- removing control characters is the point
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, '')
    .trim();
  if (s === '' || s === '.' || s === '..') return fallback;
  while (Buffer.byteLength(s, 'utf8') > 255) s = Array.from(s).slice(0, -1).join('');
  return s;
}
