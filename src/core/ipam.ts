/**
 * Tunnel address math. A device's IPv4 and IPv6 addresses are one offset
 * into two pools, so either address identifies the device and both are
 * freed together. Offset 0 is the network, offset 1 the gateway's own
 * tunnel address, the last IPv4 offset the broadcast address.
 */
import { DammError } from './errors.js';

export interface AddressPools {
  ipv4Cidr: string; // e.g. 10.66.0.0/16
  ipv6Prefix: string; // e.g. fd0d:a44d:0::/64 (ULA)
}

export interface ParsedPools {
  v4Base: number;
  v4Bits: number;
  v6Base: bigint;
  v6Bits: number;
  /** Largest usable offset (inclusive). */
  maxOffset: number;
  firstOffset: number;
}

export const GATEWAY_OFFSET = 1;

export function parseIPv4(text: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || String(p) !== m[i + 1])) return null;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseIPv6(text: string): bigint | null {
  if (!/^[0-9a-fA-F:]+$/.test(text) || text.split('::').length > 2) return null;
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  if (tail === undefined && h.length !== 8) return null;
  if (h.length + t.length > (tail === undefined ? 8 : 7)) return null;
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return n;
}

export function formatIPv6(n: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export function parsePools(pools: AddressPools): ParsedPools {
  const [v4, v4len] = pools.ipv4Cidr.split('/');
  const v4Base = parseIPv4(v4 ?? '');
  const v4Bits = 32 - Number(v4len);
  if (v4Base === null || !Number.isInteger(v4Bits) || v4Bits < 2 || v4Bits > 24) {
    throw new DammError('config_invalid', `IPv4 pool ${pools.ipv4Cidr} must be a CIDR between /8 and /30.`);
  }
  if ((v4Base & ((2 ** v4Bits - 1) >>> 0)) !== 0) {
    throw new DammError('config_invalid', `IPv4 pool ${pools.ipv4Cidr} has host bits set.`);
  }
  const [v6, v6len] = pools.ipv6Prefix.split('/');
  const v6Base = parseIPv6(v6 ?? '');
  const v6Bits = 128 - Number(v6len);
  if (v6Base === null || !Number.isInteger(v6Bits) || v6Bits < v4Bits || v6Bits > 64) {
    throw new DammError('config_invalid', `IPv6 prefix ${pools.ipv6Prefix} must be a /64 to /${128 - v4Bits} with room for the IPv4 pool.`);
  }
  if ((v6Base >> 121n) !== 0x7en) {
    throw new DammError('config_invalid', `IPv6 prefix ${pools.ipv6Prefix} must be a unique local address (fd00::/8).`);
  }
  if ((v6Base & ((1n << BigInt(v6Bits)) - 1n)) !== 0n) {
    throw new DammError('config_invalid', `IPv6 prefix ${pools.ipv6Prefix} has host bits set.`);
  }
  return { v4Base, v4Bits, v6Base, v6Bits, firstOffset: GATEWAY_OFFSET + 1, maxOffset: 2 ** v4Bits - 2 };
}

export function addressesFor(p: ParsedPools, offset: number): { ipv4: string; ipv6: string } {
  if (!Number.isInteger(offset) || offset < GATEWAY_OFFSET || offset > p.maxOffset) {
    throw new DammError('address_pool_exhausted', `Address offset ${offset} is outside the pool.`);
  }
  return { ipv4: formatIPv4((p.v4Base + offset) >>> 0), ipv6: formatIPv6(p.v6Base + BigInt(offset)) };
}

export function gatewayAddresses(p: ParsedPools): { ipv4: string; ipv6: string } {
  return addressesFor(p, GATEWAY_OFFSET);
}

/** Whether a host address (no prefix) lies inside the pool's device range. */
export function offsetOfIPv4(p: ParsedPools, ip: string): number | null {
  const n = parseIPv4(ip);
  if (n === null) return null;
  const off = n - p.v4Base;
  return off >= p.firstOffset && off <= p.maxOffset ? off : null;
}

export function offsetOfIPv6(p: ParsedPools, ip: string): number | null {
  const n = parseIPv6(ip);
  if (n === null) return null;
  const off = n - p.v6Base;
  return off >= BigInt(p.firstOffset) && off <= BigInt(p.maxOffset) ? Number(off) : null;
}
