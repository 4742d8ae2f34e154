/** The nftables argument arrays for alternate ports: the agent's own table, one redirect per port, local destinations only. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redirectCommands, redirectTable } from '../../src/gateway/agent/host.js';

test('one table per interface, a nat prerouting chain, one local-only redirect rule per alternate port', () => {
  const c = redirectCommands('wg0', 51820, [443, 53]);
  assert.deepEqual(c.remove, ['delete', 'table', 'inet', 'damm_wg0']);
  assert.deepEqual(c.create, [
    ['add', 'table', 'inet', 'damm_wg0'],
    ['add', 'chain', 'inet', 'damm_wg0', 'prerouting', '{', 'type', 'nat', 'hook', 'prerouting', 'priority', 'dstnat', ';', 'policy', 'accept', ';', '}'],
    ['add', 'rule', 'inet', 'damm_wg0', 'prerouting', 'fib', 'daddr', 'type', 'local', 'udp', 'dport', '443', 'redirect', 'to', ':51820'],
    ['add', 'rule', 'inet', 'damm_wg0', 'prerouting', 'fib', 'daddr', 'type', 'local', 'udp', 'dport', '53', 'redirect', 'to', ':51820'],
  ]);
});

test('interface names map to table names nft accepts', () => {
  assert.equal(redirectTable('wg-eu.1'), 'damm_wg_eu_1');
  assert.match(redirectTable('a+b=c'), /^damm_[A-Za-z0-9_]+$/);
});
