/**
 * Tunnel address math. A device's IPv4 and IPv6 addresses are one offset
 * into two pools, so either address identifies the device and both are
 * freed together. Offset 0 is the network, offset 1 the gateway's own
 * tunnel address, the last IPv4 offset the broadcast address.
 */
import { DammError } from './errors.js';
import { formatIp, ipFromBigInt, ipToBigInt, parseIpv4, parseIpv6 } from './ip.js';

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
  const ip = parseIpv4(text);
  return ip ? Number(ipToBigInt(ip)) : null;
}

export function formatIPv4(n: number): string {
  return formatIp(ipFromBigInt(BigInt(n >>> 0), 'ipv4'));
}

export function parseIPv6(text: string): bigint | null {
  const ip = parseIpv6(text);
  return ip ? ipToBigInt(ip) : null;
}

export function formatIPv6(n: bigint): string {
  return formatIp(ipFromBigInt(n, 'ipv6'));
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
