import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time comparison of secrets (tokens, passwords, signatures). Both sides are
 * hashed first, so timingSafeEqual always compares 32 bytes: neither the length of the
 * secret nor the position of the first difference shows in the time taken.
 */
export function sameSecret(expected: string, given: string): boolean {
  return timingSafeEqual(digest(expected), digest(given));
}

/** The credential whose secret is `given`; every one is compared, so a match's position does not show either. */
export function findCredential<T extends { secret: string }>(credentials: readonly T[], given: string): T | undefined {
  let found: T | undefined;
  for (const c of credentials) if (sameSecret(c.secret, given)) found ??= c;
  return found;
}

/**
 * The secret of a user, or — for an unknown user — a random one that never matches,
 * so an unknown user costs the same work as a wrong secret and names cannot be probed.
 */
export function secretOf(users: ReadonlyMap<string, string | { secret: string }>, user: string): { secret: string; known: boolean } {
  const v = users.get(user);
  if (v === undefined) return { secret: DECOY, known: false };
  return { secret: typeof v === 'string' ? v : v.secret, known: true };
}

const DECOY = randomBytes(32).toString('hex');

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
