/** core/recommend: only a door a probe proved is recommended, the least conspicuous first, with the reason. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recommend, type RecommendableDoor, type Verdict } from '../../src/core/recommend.js';

// Catalog order: a lane's listen-port door comes before its alternate ports (services/catalog.ts frontDoorsOf).
const doors: RecommendableDoor[] = [
  { id: 'g/T0/51820', tier: 'T0', protocol: 'wireguard', endpoint: 'gw.example:51820' },
  { id: 'g/T0/443', tier: 'T0', protocol: 'wireguard', endpoint: 'gw.example:443' },
  { id: 'g/T1/51821', tier: 'T1', protocol: 'amneziawg', endpoint: 'gw.example:51821' },
  { id: 'g/T2/8443', tier: 'T2', protocol: 'shadowsocks', endpoint: 'gw.example:8443' },
  { id: 'g/T3/443', tier: 'T3', protocol: 'vless', endpoint: 'gw.example:443' },
];
const v = (o: Record<string, Verdict>) => o;

test('everything open: the plain WireGuard listen-port door, because UDP crosses', () => {
  const r = recommend(doors, v({ 'g/T0/51820': 'reachable', 'g/T0/443': 'reachable', 'g/T1/51821': 'reachable', 'g/T3/443': 'reachable' }));
  assert.equal(r.recommended, 'g/T0/51820');
  assert.equal(r.reason, 'udp_open');
  assert.deepEqual(r.order, ['g/T0/51820', 'g/T0/443', 'g/T1/51821', 'g/T3/443', 'g/T2/8443'], 'the door no browser can probe comes after every proven one');
});

test('UDP/51820 blocked: the T0 door on the alternate port, and the reason says the port is blocked', () => {
  const r = recommend(doors, v({ 'g/T0/51820': 'unreachable', 'g/T0/443': 'reachable', 'g/T1/51821': 'reachable', 'g/T3/443': 'reachable' }));
  assert.equal(r.recommended, 'g/T0/443');
  assert.equal(r.reason, 'udp_port_blocked');
  assert.equal(r.order.at(-1), 'g/T0/51820');
});

test('all UDP blocked: the proven TLS door, never the unprobeable TCP door ahead of it', () => {
  const r = recommend(doors, v({ 'g/T0/51820': 'unreachable', 'g/T0/443': 'unreachable', 'g/T1/51821': 'unreachable', 'g/T3/443': 'reachable' }));
  assert.equal(r.recommended, 'g/T3/443');
  assert.equal(r.reason, 'udp_blocked');
  assert.deepEqual(r.order, ['g/T3/443', 'g/T2/8443', 'g/T0/51820', 'g/T0/443', 'g/T1/51821']);
});

test('nothing answered: nothing is recommended; the order is by tier for the connection test to walk', () => {
  const r = recommend(doors, {});
  assert.equal(r.recommended, null);
  assert.equal(r.reason, 'nothing_answered');
  assert.deepEqual(r.order.map((id) => id.split('/')[1]), ['T0', 'T0', 'T1', 'T2', 'T3']);
  assert.ok(Object.values(r.verdicts).every((x) => x === 'unknown'));
});
