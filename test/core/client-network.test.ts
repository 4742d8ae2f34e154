/** The network a client is limited under: IPv4 per address, IPv6 per configurable prefix. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientNetwork } from '../../src/core/client-network.js';

test('IPv6 addresses are grouped by prefix; IPv4 and IPv4-mapped IPv6 by address', () => {
  assert.equal(clientNetwork('2001:db8:1:2:aaaa::1', 64), '2001:db8:1:2::/64');
  assert.equal(clientNetwork('2001:DB8:1:2:ffff:ffff:ffff:ffff', 64), '2001:db8:1:2::/64');
  assert.equal(clientNetwork('2001:db8:1:3::1', 64), '2001:db8:1:3::/64');
  assert.equal(clientNetwork('2001:db8:1:2ff::1', 56), '2001:db8:1:200::/56');
  assert.equal(clientNetwork('2001:db8:1:2::1', 128), '2001:db8:1:2::1/128');
  assert.equal(clientNetwork('198.51.100.7', 64), '198.51.100.7');
  assert.equal(clientNetwork('::ffff:198.51.100.7', 64), '198.51.100.7');
  assert.equal(clientNetwork('::ffff:c633:6407', 64), '198.51.100.7');
  assert.equal(clientNetwork('fe80::1%eth0', 64), 'fe80::/64');
});
