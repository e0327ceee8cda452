import { InvalidRequestError } from '../errors.js';
import { ALLOW_PRIVATE_HINT, isLocalHostName, isPrivateAddress } from './address-policy.js';

/**
 * A webhook URL a client gave: http(s), absolute, no credentials in it (they would end
 * up in logs and job data), at most 2,000 characters, and — unless `allowPrivate` — not
 * a loopback/private address or `localhost` (host names are checked again at delivery,
 * against what they resolve to then). `secret` unset means webhooks are off, and asking
 * for one is an error rather than a silent no-op.
 */
export function parseWebhookUrl(raw: string, secret: string | undefined, allowPrivate: boolean): string {
  if (!secret)
    throw new InvalidRequestError(
      'Webhooks are not enabled on this server (WEBHOOK_SECRET is not set); leave out the webhook URL or ask the operator.',
    );
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new InvalidRequestError(`Expected the webhook to be an absolute http:// or https:// URL but received "${raw.slice(0, 100)}".`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new InvalidRequestError(`Expected the webhook URL to start with http:// or https:// but it starts with ${u.protocol}//.`);
  }
  if (u.username || u.password)
    throw new InvalidRequestError('The webhook URL must not carry a user name or password; verify the signature instead.');
  if (raw.length > 2000) throw new InvalidRequestError(`The webhook URL has ${raw.length} characters; at most 2000 are accepted.`);
  if (!allowPrivate && (isPrivateAddress(u.hostname) || isLocalHostName(u.hostname))) {
    throw new InvalidRequestError(
      `The webhook URL points at ${u.hostname}, a loopback, private or link-local address. ${ALLOW_PRIVATE_HINT}`,
    );
  }
  return u.toString();
}
