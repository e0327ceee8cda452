import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed `/image` URLs: `?exp=<unix seconds>&sig=<hex HMAC-SHA256 of "<path>?exp=<exp>">`
 * with IMAGE_URL_SECRET. A signature lifts the size allow-list (up to
 * IMAGE_MAX_DIMENSION) and stands in for the API key on private resources, so pages can
 * embed images without handing out keys. The expiry is inside the signed text, so it
 * cannot be extended; the path is, so it cannot be reused for another size or resource.
 */
export function signImagePath(path: string, exp: number, secret: string): string {
  return createHmac('sha256', secret).update(`${path}?exp=${exp}`).digest('hex');
}

export function signedImageUrl(path: string, ttlSeconds: number, secret: string, now = Date.now()): string {
  const exp = Math.floor(now / 1000) + ttlSeconds;
  return `${path}?exp=${exp}&sig=${signImagePath(path, exp, secret)}`;
}

export type SignatureCheck = 'valid' | 'expired' | 'invalid';

export function checkImageSignature(path: string, exp: string, sig: string, secret: string, now = Date.now()): SignatureCheck {
  if (!/^\d{1,12}$/.test(exp) || !/^[0-9a-f]{64}$/i.test(sig)) return 'invalid';
  const expected = Buffer.from(signImagePath(path, Number(exp), secret), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(sig.toLowerCase(), 'hex'))) return 'invalid';
  return Number(exp) * 1000 < now ? 'expired' : 'valid';
}
