import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressesFor, formatIPv6, lanePools, mapToLane, offsetInPools, offsetOfIPv4, offsetOfIPv6, parseIPv4, parseIPv6, parsePools } from '../../src/core/ipam.js';
import { DammError } from '../../src/core/errors.js';

test('IPv4 and IPv6 addresses share one offset', () => {
  const p = parsePools({ ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd0d:a44d:66::/64' });
  assert.deepEqual(addressesFor(p, 2), { ipv4: '10.66.0.2', ipv6: 'fd0d:a44d:66::2' });
  assert.deepEqual(addressesFor(p, 65534), { ipv4: '10.66.255.254', ipv6: 'fd0d:a44d:66::fffe' });
  assert.equal(p.maxOffset, 65534);
  assert.equal(offsetOfIPv4(p, '10.66.1.0'), 256);
  assert.equal(offsetOfIPv6(p, 'fd0d:a44d:66::100'), 256);
  assert.equal(offsetOfIPv4(p, '10.67.0.1'), null);
  assert.equal(offsetOfIPv4(p, '10.66.0.1'), null, 'the gateway address is not a device address');
});

test('offsets outside the pool are refused', () => {
  const p = parsePools({ ipv4Cidr: '10.66.0.0/30', ipv6Prefix: 'fd00::/64' });
  assert.equal(p.maxOffset, 2);
  assert.throws(() => addressesFor(p, 3), (e: unknown) => e instanceof DammError && e.code === 'address_pool_exhausted');
});

test('pool settings are validated', () => {
  const bad = [
    { ipv4Cidr: '10.66.0.1/16', ipv6Prefix: 'fd00::/64' },
    { ipv4Cidr: '10.66.0.0/33', ipv6Prefix: 'fd00::/64' },
    { ipv4Cidr: '10.66.0.0/16', ipv6Prefix: '2001:db8::/64' },
    { ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd00::/120' },
    { ipv4Cidr: '300.1.1.0/24', ipv6Prefix: 'fd00::/64' },
  ];
  for (const b of bad) assert.throws(() => parsePools(b), (e: unknown) => e instanceof DammError && e.code === 'config_invalid', JSON.stringify(b));
});

test('address parsing is strict and formatting canonical', () => {
  assert.equal(parseIPv4('01.2.3.4'), null);
  assert.equal(parseIPv4('1.2.3'), null);
  assert.equal(parseIPv6('fd00::1::2'), null);
  assert.equal(formatIPv6(parseIPv6('fd00:0:0:0:0:0:0:1')!), 'fd00::1');
  assert.equal(formatIPv6(parseIPv6('fd00:1:0:0:1:0:0:1')!), 'fd00:1::1:0:0:1');
});

// --- lanes ---
test('lane k is the pools shifted by k blocks of their own size', () => {
  const base = { ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd0d:a44d:66::/64' };
  assert.deepEqual(lanePools(base, 0), base);
  assert.deepEqual(lanePools(base, 1), { ipv4Cidr: '10.67.0.0/16', ipv6Prefix: 'fd0d:a44d:66:1::/64' });
  assert.deepEqual(lanePools(base, 3), { ipv4Cidr: '10.69.0.0/16', ipv6Prefix: 'fd0d:a44d:66:3::/64' });
  assert.deepEqual(lanePools({ ipv4Cidr: '100.64.0.0/24', ipv6Prefix: 'fd00::/120' }, 2), { ipv4Cidr: '100.64.2.0/24', ipv6Prefix: 'fd00::200/120' });
});

test('a lane that would leave private space, or a lane out of range, is refused with config_invalid', () => {
  const refused = (pools: { ipv4Cidr: string; ipv6Prefix: string }, lane: number, words: RegExp) =>
    assert.throws(() => lanePools(pools, lane), (e: unknown) => e instanceof DammError && e.code === 'config_invalid' && words.test(e.message), `${JSON.stringify(pools)} lane ${lane}`);
  refused({ ipv4Cidr: '10.255.0.0/16', ipv6Prefix: 'fd00::/64' }, 1, /10\.0\.0\.0\/8/);
  refused({ ipv4Cidr: '172.31.0.0/16', ipv6Prefix: 'fd00::/64' }, 1, /172\.16\.0\.0\/12/);
  refused({ ipv4Cidr: '192.168.255.0/24', ipv6Prefix: 'fd00::/64' }, 1, /192\.168\.0\.0\/16/);
  refused({ ipv4Cidr: '100.127.255.0/24', ipv6Prefix: 'fd00::/64' }, 1, /100\.64\.0\.0\/10/);
  refused({ ipv4Cidr: '198.18.0.0/16', ipv6Prefix: 'fd00::/64' }, 1, /private address space/);
  refused({ ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fdff:ffff:ffff:ffff::/64' }, 1, /fd00::\/8/);
  refused({ ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd00::/64' }, 4, /outside 0\.\.3/);
  refused({ ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd00::/64' }, -1, /outside 0\.\.3/);
  refused({ ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd00::/64' }, 1.5, /outside 0\.\.3/);
  // Lane 0 of a public pool is what the operator configured; only shifting it is refused.
  assert.deepEqual(lanePools({ ipv4Cidr: '198.18.0.0/16', ipv6Prefix: 'fd00::/64' }, 0), { ipv4Cidr: '198.18.0.0/16', ipv6Prefix: 'fd00::/64' });
});

test('a device keeps its offset in every lane; anything but a device address of the pool is refused', () => {
  const base = { ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd0d:a44d:66::/64' };
  const p0 = parsePools(base);
  const p1 = parsePools(lanePools(base, 1));
  assert.deepEqual(mapToLane(p0, p1, ['10.66.1.7/32', 'fd0d:a44d:66::107/128']), ['10.67.1.7/32', 'fd0d:a44d:66:1::107/128']);
  for (const bad of ['10.66.0.1/32', '10.67.1.7/32', '10.66.1.0/24', '192.0.2.1/32', 'fd0d:a44d:66::/128', 'x']) {
    assert.throws(() => mapToLane(p0, p1, [bad]), (e: unknown) => e instanceof DammError && e.code === 'invalid_argument', bad);
  }
  assert.equal(offsetInPools(lanePools(base, 1), { ipv4: '10.67.0.9', ipv6: 'fd0d:a44d:66:1::9' }), 9);
  assert.equal(offsetInPools(lanePools(base, 1), { ipv4: '10.66.0.9', ipv6: 'fd0d:a44d:66::9' }), null);
});
