import { BlockList, isIP } from 'node:net';

/**
 * Where completion webhooks may not go unless the operator allows it
 * (WEBHOOK_ALLOW_PRIVATE): loopback, private, link-local (cloud metadata services live
 * at 169.254.169.254), shared, unspecified, multicast and reserved addresses. A client
 * that may name a webhook URL could otherwise make the workers POST into the
 * deployment's own network — Redis, MinIO, the metadata service (SSRF).
 */
const BLOCKED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  // Site-local (deprecated, still routed inside some networks).
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  BLOCKED.addSubnet(net, prefix, 'ipv6');
}

/**
 * IPv4 inside IPv6: IPv4-compatible (deprecated), IPv4-mapped, NAT64 (well-known and
 * local-use prefixes) and 6to4 all reach an IPv4 address — a private one as easily as
 * any — so none is taken at all. A list of its own, asked about IPv6 addresses only:
 * BlockList matches IPv4 addresses against IPv4-mapped rules, so in BLOCKED these
 * would refuse every IPv4 address.
 */
const IPV4_IN_IPV6 = new BlockList();
for (const [net, prefix] of [
  ['::', 96],
  ['::ffff:0:0', 96],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['2002::', 16],
] as const) {
  IPV4_IN_IPV6.addSubnet(net, prefix, 'ipv6');
}

/** Whether `address` (an IP literal, IPv6 with or without brackets) is one webhooks may not reach by default. */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const family = isIP(bare);
  if (family === 4) return BLOCKED.check(bare, 'ipv4');
  if (family !== 6) return false;
  // The dotted forms (::ffff:127.0.0.1, ::8.8.8.8) are IPv4 in IPv6 whatever BlockList makes of them.
  if (/^::(ffff:)?\d+\.\d+\.\d+\.\d+$/i.test(bare)) return true;
  return IPV4_IN_IPV6.check(bare, 'ipv6') || BLOCKED.check(bare, 'ipv6');
}

/** A host name that names this machine whatever DNS says. */
export function isLocalHostName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost');
}

export const ALLOW_PRIVATE_HINT = 'Webhooks go to public addresses only unless the operator sets WEBHOOK_ALLOW_PRIVATE=true.';
