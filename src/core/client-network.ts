/**
 * Which network a client's per-client limits count against. One IPv6
 * subscriber usually holds a whole /64 (often more) and can pick a fresh
 * address from it for every request, so IPv6 clients are counted per
 * prefix; IPv4 clients per address, including IPv4 seen through an
 * IPv4-mapped IPv6 socket (::ffff:198.51.100.7).
 */
import ipaddr from 'ipaddr.js';

export function clientNetwork(ip: string, ipv6PrefixLength: number): string {
  if (!ipaddr.isValid(ip)) return ip; // not an address (no socket peer): counted as given
  const addr = ipaddr.process(ip); // IPv4-mapped IPv6 comes back as IPv4
  if (addr.kind() === 'ipv4') return addr.toString();
  const bytes = addr.toByteArray();
  for (let bit = ipv6PrefixLength; bit < 128; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return `${ipaddr.fromByteArray(bytes).toString()}/${ipv6PrefixLength}`;
}
