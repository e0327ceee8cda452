import { createHash } from 'node:crypto';

/**
 * The credentials the suites configure every face with, and the ways a client presents
 * them: one place, so the auth table, the throttle and the security tests speak of the
 * same keys. test/compat keeps its own (it checks names and passwords with odd characters).
 */
export const CREDENTIALS = {
  rsUser: 'rsuser',
  rsKey: 'rs-private-key-0123456789abcdef',
  copernicaToken: 'copernica-token-0123456789abcdef',
  flotiqKey: 'flotiq-key-0123456789abcdef',
  connectionsUser: 'conn',
  connectionsPassword: 'conn-password-0123456789',
  imageSecret: 'image-url-secret-0123456789abcdef0123456789',
  adminKey: 'admin-key-0123456789abcdef',
} as const;

/** The service's environment that turns every credentialed face on with CREDENTIALS. */
export function credentialEnv(): Record<string, string> {
  const c = CREDENTIALS;
  return {
    RESOURCESPACE_USERS: `${c.rsUser}:${c.rsKey}`,
    COPERNICA_TOKENS: c.copernicaToken,
    FLOTIQ_API_KEYS: c.flotiqKey,
    CONNECTIONS_USERS: `${c.connectionsUser}:${c.connectionsPassword}`,
    IMAGE_URL_SECRET: c.imageSecret,
    ADMIN_KEYS: c.adminKey,
  };
}

/** An HTTP Basic `Authorization` value. */
export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** SHA-256 in hex: ResourceSpace's signature, a declared digest. */
export const sha256Hex = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
