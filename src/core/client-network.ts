/**
 * Which network a client's per-client limits count against. One IPv6
 * subscriber usually holds a whole /64 (often more) and can pick a fresh
 * address from it for every request, so IPv6 clients are counted per
 * prefix; IPv4 clients per address, including IPv4 seen through an
 * IPv4-mapped IPv6 socket (::ffff:198.51.100.7).
 */
import { formatIp, maskIp, parseIp } from './ip.js';

export function clientNetwork(ip: string, ipv6PrefixLength: number): string {
  // A link-local peer carries its zone (fe80::1%eth0); the zone names our interface, not the client.
  const addr = parseIp(ip.replace(/%[^%]*$/, ''));
  if (!addr) return ip; // not an address (no socket peer): counted as given
  if (addr.kind() === 'ipv4') return formatIp(addr);
  const v6 = addr as Extract<typeof addr, { isIPv4MappedAddress(): boolean }>;
  if (v6.isIPv4MappedAddress()) return formatIp(v6.toIPv4Address());
  return `${formatIp(maskIp(addr, ipv6PrefixLength))}/${ipv6PrefixLength}`;
}
