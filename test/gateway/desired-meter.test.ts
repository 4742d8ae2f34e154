/** Pure agent pieces: the desired set's set-level rules and the byte meter. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { DesiredSet, emptyDelta } from '../../src/gateway/agent/desired.js';
import { Meter } from '../../src/gateway/agent/meter.js';
import { admissionRecordFor, revocationRecordFor, signRecord, type GatewayTrust } from '../../src/core/admission.js';
import { generateSigningKey } from '../../src/core/envelope.js';
import { parsePools } from '../../src/core/ipam.js';
import { ManualClock } from '../../src/core/clock.js';
import { wgKeyPair } from '../helpers/keys.js';

const key = generateSigningKey();
const trust: GatewayTrust = { scope: 'region:NL', pools: parsePools({ ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd0d:a44d:66::/64' }), trustedKeys: [key] };

function device(n: number) {
  return { id: randomUUID(), publicKey: wgKeyPair().publicKey, ipv4: `10.66.0.${n}`, ipv6: `fd0d:a44d:66::${n.toString(16)}`, scope: 'region:NL' };
}
const up = (d: ReturnType<typeof device>, at: Date, validity = 3600) => ({ deviceId: d.id, kind: 'upsert' as const, envelope: signRecord(admissionRecordFor(d, at, validity), [key]) });
const rm = (d: ReturnType<typeof device>, at: Date) => ({ deviceId: d.id, kind: 'remove' as const, envelope: signRecord(revocationRecordFor(d, at), [key]) });

test('a record issued before a revocation cannot re-admit the device (replayed feed)', () => {
  const clock = new ManualClock('2026-05-01T00:00:00Z');
  const s = new DesiredSet(trust);
  const d = device(5);
  const old = up(d, clock.now());
  assert.equal(s.apply(old, clock.now(), emptyDelta()), null);
  clock.advance(60);
  assert.equal(s.apply(rm(d, clock.now()), clock.now(), emptyDelta()), null);
  assert.equal(s.size, 0);
  assert.equal(s.apply(old, clock.now(), emptyDelta())?.reason, 'revoked');
  assert.equal(s.size, 0);
});

test('an older record never replaces a newer one (stale), a renewal replaces in place', () => {
  const clock = new ManualClock('2026-05-01T00:00:00Z');
  const s = new DesiredSet(trust);
  const d = device(6);
  const first = up(d, clock.now());
  clock.advance(600);
  const renewed = up(d, clock.now());
  assert.equal(s.apply(renewed, clock.now(), emptyDelta()), null);
  assert.equal(s.apply(first, clock.now(), emptyDelta())?.reason, 'stale');
  const delta = emptyDelta();
  clock.advance(600);
  assert.equal(s.apply(up(d, clock.now()), clock.now(), delta), null);
  assert.deepEqual([...delta.remove], [], 'a renewal is an upsert of the same peer, not a remove + add');
  assert.deepEqual([...delta.upsert.keys()], [d.publicKey]);
});

test('expiry removes exactly the records past notAfter', () => {
  const clock = new ManualClock('2026-05-01T00:00:00Z');
  const s = new DesiredSet(trust);
  const a = device(7);
  const b = device(8);
  s.apply(up(a, clock.now(), 100), clock.now(), emptyDelta());
  s.apply(up(b, clock.now(), 200), clock.now(), emptyDelta());
  clock.advance(150);
  const delta = emptyDelta();
  assert.deepEqual(s.expire(clock.now(), delta).map((p) => p.deviceId), [a.id]);
  assert.deepEqual([...delta.remove], [a.publicKey]);
  assert.equal(s.nextExpiry(), Date.parse('2026-05-01T00:03:20Z'));
});

test('meter: deltas, counter resets, acknowledgement, persistence', () => {
  const m = new Meter();
  m.observe([{ publicKey: 'k1', rxBytes: 100n, txBytes: 50n }]);
  m.observe([{ publicKey: 'k1', rxBytes: 160n, txBytes: 50n }]);
  const r1 = m.report();
  assert.deepEqual(r1, [{ publicKey: 'k1', rxDelta: 160, txDelta: 50 }]);
  m.acknowledge(r1);
  assert.deepEqual(m.report(), []);
  m.observe([{ publicKey: 'k1', rxBytes: 30n, txBytes: 5n }]); // interface restarted
  assert.deepEqual(m.report(), [{ publicKey: 'k1', rxDelta: 30, txDelta: 5 }]);
  const restored = Meter.fromJSON(JSON.parse(JSON.stringify(m.toJSON())));
  restored.observe([{ publicKey: 'k1', rxBytes: 40n, txBytes: 5n }]);
  assert.deepEqual(restored.report(), [{ publicKey: 'k1', rxDelta: 40, txDelta: 5 }]);
  // a peer that left keeps its unreported bytes; coming back it starts at zero
  restored.observe([]);
  assert.deepEqual(restored.report(), [{ publicKey: 'k1', rxDelta: 40, txDelta: 5 }]);
  restored.observe([{ publicKey: 'k1', rxBytes: 7n, txBytes: 0n }]);
  assert.deepEqual(restored.report(), [{ publicKey: 'k1', rxDelta: 47, txDelta: 5 }]);
});
