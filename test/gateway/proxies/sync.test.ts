import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openCredentials, repairDrift } from '../../../src/gateway/proxies/sync.js';
import { seal, sealingKeyPair } from '../../../src/core/seal.js';
import { encodeProxyCredential, newProxyCredential } from '../../../src/core/proxy-credential.js';
import { DammError } from '../../../src/core/errors.js';
import type { ProxyServer, ProxyUser } from '../../../src/gateway/proxies/port.js';

const gw = sealingKeyPair();
const door = { gatewayId: 'gw-1', doorId: 'ss-443', protocol: 'shadowsocks' as const };
const ssSecret = () => newProxyCredential('shadowsocks', new Uint8Array(randomBytes(32)));
const sealFor = (ctx: { gatewayId: string; doorId: string }, bytes: Uint8Array) => seal(gw.publicKey, bytes, ctx);

test('credentials sealed to this door open; the others are refused by device id, with a code and no bytes', () => {
  const a = ssSecret();
  const b = ssSecret();
  const opened = openCredentials(gw.privateKey, door, [
    { deviceId: 'dev-a', sealed: sealFor(door, encodeProxyCredential('shadowsocks', a)) },
    { deviceId: 'dev-b', sealed: sealFor(door, encodeProxyCredential('shadowsocks', b)) },
    { deviceId: 'dev-other-door', sealed: sealFor({ ...door, doorId: 'vless-443' }, encodeProxyCredential('shadowsocks', ssSecret())) },
    { deviceId: 'dev-other-gw', sealed: seal(sealingKeyPair().publicKey, encodeProxyCredential('shadowsocks', ssSecret()), door) },
    { deviceId: 'dev-uuid', sealed: sealFor(door, encodeProxyCredential('vless', newProxyCredential('vless', new Uint8Array(16)))) },
    { deviceId: 'dev-junk', sealed: new Uint8Array(10) },
    { deviceId: 'dev-a', sealed: sealFor(door, encodeProxyCredential('shadowsocks', ssSecret())) },
  ]);
  assert.deepEqual(opened.users, [{ id: 'dev-a', secret: a }, { id: 'dev-b', secret: b }]);
  assert.deepEqual(opened.refused.map((r) => [r.deviceId, r.code]), [
    ['dev-other-door', 'record_invalid'],
    ['dev-other-gw', 'record_invalid'],
    ['dev-uuid', 'record_invalid'],
    ['dev-junk', 'record_invalid'],
    ['dev-a', 'conflict'],
  ]);
  assert.ok(!JSON.stringify(opened.refused).includes(a) && !JSON.stringify(opened.refused).includes(b));
});

/** A stand-in server recording calls: this unit test is of repairDrift, the code that talks to it. */
function fakeServer(held: string[] | Error): ProxyServer & { applied: ProxyUser[][] } {
  const applied: ProxyUser[][] = [];
  return {
    applied,
    start: async () => undefined,
    apply: async (d) => void applied.push([...d]),
    actual: async () => {
      if (held instanceof Error) throw held;
      return held;
    },
    counters: async () => new Map(),
    stop: async () => undefined,
  };
}

test('repairDrift re-applies only when the held ids differ from the desired ones, or the driver saw drift', async () => {
  const desired = [{ id: 'dev-a', secret: ssSecret() }, { id: 'dev-b', secret: ssSecret() }];
  const same = fakeServer(['dev-b', 'dev-a']);
  assert.equal(await repairDrift(same, desired), false);
  assert.equal(same.applied.length, 0);
  for (const held of [['dev-a'], ['dev-a', 'dev-b', 'dev-x'], ['dev-a', 'dev-x'], new DammError('internal', 'drifted')]) {
    const s = fakeServer(held);
    assert.equal(await repairDrift(s, desired), true, String(held));
    assert.deepEqual(s.applied, [desired]);
  }
  await assert.rejects(repairDrift(fakeServer(new TypeError('bug')), desired), TypeError);
});
