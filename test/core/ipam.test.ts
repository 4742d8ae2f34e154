import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressesFor, formatIPv6, offsetOfIPv4, offsetOfIPv6, parseIPv4, parseIPv6, parsePools } from '../../src/core/ipam.js';
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
