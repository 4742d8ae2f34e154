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

// ---------------------------------------------------------------------------
// Lanes: one tunnel prefix pair per WireGuard-family interface of a gateway

/** IPv4 blocks a lane's pool may move within (RFC 1918 and RFC 6598 shared space). */
const PRIVATE_V4_BLOCKS: ReadonlyArray<{ base: number; bits: number; name: string }> = [
  { base: 0x0a000000, bits: 24, name: '10.0.0.0/8' },
  { base: 0xac100000, bits: 20, name: '172.16.0.0/12' },
  { base: 0xc0a80000, bits: 16, name: '192.168.0.0/16' },
  { base: 0x64400000, bits: 22, name: '100.64.0.0/10' },
];

/**
 * Lane `lane`'s tunnel prefixes: the pools shifted by `lane` blocks of their
 * own size (10.66.0.0/16 → lane 1 10.67.0.0/16; the IPv6 prefix likewise).
 * Lane 0 is the pools themselves. A device keeps its address offset in every
 * lane, so one admission record (lane 0 addresses) names its address on every
 * interface and no two interfaces claim the same address. Refuses
 * (config_invalid) a shift that leaves the pool's private IPv4 block or the
 * IPv6 pool's /8 (fd00::/8).
 */
export function lanePools(pools: AddressPools, lane: number): AddressPools {
  const p = parsePools(pools);
  if (!Number.isInteger(lane) || lane < 0 || lane > 3) throw new DammError('config_invalid', `Lane ${lane} is outside 0..3.`);
  if (lane === 0) return { ipv4Cidr: pools.ipv4Cidr, ipv6Prefix: pools.ipv6Prefix };
  const v4Size = 2 ** p.v4Bits;
  const v4 = p.v4Base + lane * v4Size;
  const block = PRIVATE_V4_BLOCKS.find((b) => (p.v4Base >>> b.bits) === (b.base >>> b.bits));
  if (!block || (v4 + v4Size - 1) >>> block.bits !== block.base >>> block.bits) {
    throw new DammError('config_invalid', `Lane ${lane} of the IPv4 pool ${pools.ipv4Cidr} would leave ${block?.name ?? 'private address space'}; use a pool with room for ${lane + 1} blocks of its size (e.g. 10.66.0.0/16).`, {
      details: { lane, pool: pools.ipv4Cidr },
    });
  }
  const v6 = p.v6Base + BigInt(lane) * (1n << BigInt(p.v6Bits));
  if (v6 >> 120n !== p.v6Base >> 120n || (v6 + (1n << BigInt(p.v6Bits)) - 1n) >> 120n !== p.v6Base >> 120n) {
    throw new DammError('config_invalid', `Lane ${lane} of the IPv6 prefix ${pools.ipv6Prefix} would leave its /8 (fd00::/8).`, { details: { lane, prefix: pools.ipv6Prefix } });
  }
  return { ipv4Cidr: `${formatIPv4(v4 >>> 0)}/${32 - p.v4Bits}`, ipv6Prefix: `${formatIPv6(v6)}/${128 - p.v6Bits}` };
}

/**
 * A device's lane-0 host prefixes ("10.66.0.7/32", "fd..::7/128") at the same
 * offsets in another lane's pools. Throws invalid_argument for a prefix that
 * is not a device address of `from`: nothing outside the pool is ever moved.
 */
export function mapToLane(from: ParsedPools, to: ParsedPools, prefixes: readonly string[]): string[] {
  return prefixes.map((prefix) => {
    const [ip, len] = prefix.split('/');
    const offset = len === '32' ? offsetOfIPv4(from, ip ?? '') : len === '128' ? offsetOfIPv6(from, ip ?? '') : null;
    if (offset === null) throw new DammError('invalid_argument', `${prefix} is not a device address of the tunnel pool, so it has no place in another lane.`);
    const a = addressesFor(to, offset);
    return len === '32' ? `${a.ipv4}/32` : `${a.ipv6}/128`;
  });
}

/** Whether `addresses` are the device addresses at one offset of `pools` (a door's tunnel); the offset, else null. */
export function offsetInPools(pools: AddressPools, addresses: { ipv4: string; ipv6: string }): number | null {
  let p: ParsedPools;
  try {
    p = parsePools(pools);
  } catch {
    return null;
  }
  const a = offsetOfIPv4(p, addresses.ipv4);
  const b = offsetOfIPv6(p, addresses.ipv6);
  return a !== null && a === b ? a : null;
}
