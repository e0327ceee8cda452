import { InvalidRequestError } from '../errors.js';
import { SHA256_HEX } from '../catalog/checksums.js';

const REPR_DIGEST_FORM = 'sha-256=:<base64 of the 32-byte SHA-256>: (RFC 9530)';

/**
 * The SHA-256 a client declares for a file, as lower-case hex. Accepts the RFC 9530
 * `Repr-Digest` dictionary (`sha-256=:…:`, other algorithms alongside are ignored) or
 * plain hex. undefined when nothing was declared.
 */
export function parseDeclaredDigest(raw: string | undefined, where: string): string | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const v = raw.trim();
  if (SHA256_HEX.test(v.toLowerCase())) return v.toLowerCase();
  const members = v.split(',').map((m) => m.trim());
  const sha = members.find((m) => /^sha-256\s*=/i.test(m));
  if (!sha) {
    throw new InvalidRequestError(`Expected ${where} to carry ${REPR_DIGEST_FORM} or 64 hex digits; no sha-256 member was found.`);
  }
  const m = /^sha-256\s*=\s*:([A-Za-z0-9+/]+={0,2}):$/i.exec(sha);
  const bytes = m ? Buffer.from(m[1]!, 'base64') : undefined;
  if (!bytes || bytes.length !== 32) {
    throw new InvalidRequestError(`Expected ${where} to be ${REPR_DIGEST_FORM} but received ${JSON.stringify(sha.slice(0, 80))}.`);
  }
  return bytes.toString('hex');
}

/** RFC 9530 form of a hex SHA-256, for answers and clients. */
export function reprDigest(hex: string): string {
  return `sha-256=:${Buffer.from(hex, 'hex').toString('base64')}:`;
}
