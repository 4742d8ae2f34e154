/**
 * The one IP address module: parsing, masking and the canonical spelling,
 * on top of ipaddr.js (well kept, and already what Fastify's proxy-addr uses
 * to decide trusted proxies), plus the few rules DAMM adds:
 *
 * - strict: IPv4 only as four decimal parts without leading zeros (ipaddr.js
 *   would also take "010.0.0.1" as octal or "10.1" as two parts, which `wg`
 *   and Postgres read differently), no IPv6 zone ids, no host names;
 * - canonical: the spelling WireGuard reads back (Go's netip: masked
 *   prefix, RFC 5952 IPv6, IPv4-mapped addresses as ::ffff:a.b.c.d), so a
 *   desired set compares with a read-back as plain strings.
 */
import ipaddr from 'ipaddr.js';

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

export function parseIp(text: string): IpAddress | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > 45) return null;
  if (text.includes(':')) {
    if (!/^[0-9A-Fa-f:.]+$/.test(text) || !ipaddr.IPv6.isValid(text)) return null;
    const lastColon = text.lastIndexOf(':');
    if (text.includes('.') && !ipaddr.IPv4.isValidFourPartDecimal(text.slice(lastColon + 1))) return null;
    return ipaddr.IPv6.parse(text);
  }
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : null;
}

export function parseIpv4(text: string): ipaddr.IPv4 | null {
  const ip = parseIp(text);
  return ip?.kind() === 'ipv4' ? (ip as ipaddr.IPv4) : null;
}

export function parseIpv6(text: string): ipaddr.IPv6 | null {
  const ip = parseIp(text);
  return ip?.kind() === 'ipv6' ? (ip as ipaddr.IPv6) : null;
}

export function formatIp(ip: IpAddress): string {
  if (ip.kind() === 'ipv4') return ip.toString();
  const v6 = ip as ipaddr.IPv6;
  return v6.isIPv4MappedAddress() ? `::ffff:${v6.toIPv4Address().toString()}` : v6.toRFC5952String();
}

/** 32- or 128-bit value of an address, for offset arithmetic. */
export function ipToBigInt(ip: IpAddress): bigint {
  return ip.toByteArray().reduce((n, b) => (n << 8n) | BigInt(b), 0n);
}

export function ipFromBigInt(n: bigint, kind: 'ipv4' | 'ipv6'): IpAddress {
  const len = kind === 'ipv4' ? 4 : 16;
  const bytes: number[] = [];
  for (let i = len - 1; i >= 0; i--) bytes.push(Number((n >> BigInt(i * 8)) & 0xffn));
  return ipaddr.fromByteArray(bytes);
}

/** The address with every bit after the first `bits` cleared. */
export function maskIp(ip: IpAddress, bits: number): IpAddress {
  const bytes = ip.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return ipaddr.fromByteArray(bytes);
}

/** Parses "a.b.c.d/n" or "v6/n" strictly (no leading zeros in n, n within range); host bits may be set. */
export function parsePrefix(text: string): { ip: IpAddress; bits: number } | null {
  if (typeof text !== 'string') return null;
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIp(text.slice(0, slash));
  const bitsText = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) return null;
  const bits = Number(bitsText);
  return bits > (ip.kind() === 'ipv4' ? 32 : 128) ? null : { ip, bits };
}

/**
 * Canonical prefix ("10.0.0.0/24", "fd00::/64"), host bits cleared, or null.
 * A bare address means a single host (/32 or /128), as `wg` accepts it.
 */
export function canonicalPrefix(text: string): string | null {
  if (typeof text !== 'string') return null;
  const bare = text.includes('/') ? null : parseIp(text);
  const p = bare ? { ip: bare, bits: bare.kind() === 'ipv4' ? 32 : 128 } : parsePrefix(text);
  return p ? `${formatIp(maskIp(p.ip, p.bits))}/${p.bits}` : null;
}

/** Canonical UDP endpoint ("192.0.2.1:51820", "[2001:db8::1]:51820"), or null. IP literals only. */
export function canonicalEndpoint(text: string): string | null {
  if (typeof text !== 'string') return null;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(0|[1-9][0-9]{0,4})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  const ip = m[1] !== undefined ? parseIpv6(m[1]) : parseIpv4(m[2]!);
  if (!ip) return null;
  return ip.kind() === 'ipv6' ? `[${formatIp(ip)}]:${port}` : `${formatIp(ip)}:${port}`;
}
