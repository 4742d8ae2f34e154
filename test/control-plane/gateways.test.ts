/** Gateway registry: one-time tokens, registration, heartbeats, going offline, and the catalog that follows. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestControlPlane, registerTestGateway } from '../helpers/control-plane.js';
import { tableCounts } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';
import { ManualClock } from '../../src/core/clock.js';
import { verifyCatalog } from '../../src/core/catalog.js';
import { trustRoot } from '../../src/core/trust/root.js';
import { heartbeat } from '../../src/control-plane/services/gateways.js';

test('a registration token works once, and registration validates what the gateway sends', async () => {
  const cp = await startTestControlPlane();
  try {
    const add = await cp.op('POST', '/v1/operator/gateways', { region: 'nl', country: 'nl', name: 'ams-1' });
    assert.equal(add.status, 201);
    const body = { registrationToken: add.body.registrationToken, doors: [{ lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: wgKeyPair().publicKey, params: null, endpoints: [{ host: '198.51.100.1', port: 51820 }] }], egressIps: ['198.51.100.1'] };
    for (const bad of [
      { ...body, doors: [{ ...body.doors[0], publicKey: 'x' }] },
      { ...body, doors: [] },
      { ...body, doors: [{ ...body.doors[0], endpoints: [] }] },
      { ...body, doors: [{ ...body.doors[0], tier: 'T9' }] },
      { ...body, doors: [{ ...body.doors[0], endpoints: [{ host: 'h; rm -rf /', port: 1 }] }] },
      { ...body, wgPublicKey: wgKeyPair().publicKey },
      { ...body, egressIps: ['not-an-ip'] },
      { ...body, extra: 1 },
    ]) {
      const before = await tableCounts(cp.database.db);
      const r = await cp.call('POST', '/v1/gateways/register', bad);
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.deepEqual(await tableCounts(cp.database.db), before);
    }
    const ok = await cp.call('POST', '/v1/gateways/register', body);
    assert.equal(ok.status, 201);
    assert.equal(ok.body.scope, 'region:NL');
    assert.match(ok.body.credential, /^dgc_/);
    assert.equal(ok.body.tunnel.gatewayIpv4, '10.66.0.1');
    assert.equal(ok.body.admissionKeys.length, 1);
    const again = await cp.call('POST', '/v1/gateways/register', body);
    assert.equal(again.status, 403);
    assert.equal(again.body.error.code, 'invalid_pass');
    const list = (await cp.op('GET', '/v1/operator/gateways')).body.gateways;
    assert.equal(list[0].name, 'ams-1');
    assert.equal(list[0].region, 'NL');
    assert.equal(list[0].online, true);
    const stored = await cp.database.db.query('SELECT reg_token_hash, credential_hash FROM gateways');
    assert.equal(stored.rows[0].reg_token_hash, null, 'used token is gone');
    assert.ok(!JSON.stringify(stored.rows).includes(ok.body.credential));
  } finally {
    await cp.stop();
  }
});

test('an expired registration token is refused', async () => {
  const clock = new ManualClock(new Date());
  const cp = await startTestControlPlane({ clock });
  try {
    const add = await cp.op('POST', '/v1/operator/gateways', { region: 'NL', country: 'NL', expiresInSeconds: 60 });
    clock.advance(61);
    const r = await cp.call('POST', '/v1/gateways/register', { registrationToken: add.body.registrationToken, doors: [{ lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: wgKeyPair().publicKey, params: null, endpoints: [{ host: 'h', port: 1 }] }], egressIps: ['192.0.2.1'] });
    assert.equal(r.body.error.code, 'pass_expired');
  } finally {
    await cp.stop();
  }
});

test('a gateway that stops heartbeating drops out of the catalog and placement; the catalog version only moves forward', async () => {
  const clock = new ManualClock(new Date());
  const cp = await startTestControlPlane({ clock, config: { gatewayOfflineAfterSeconds: 60, mintLimitPerHour: 100 } });
  try {
    const root = trustRoot((await cp.call('GET', '/v1/trust/root/1.json')).body);
    const read = async (lastSeen?: any) => verifyCatalog((await cp.call('GET', '/v1/catalog')).body, root, { now: clock.now(), lastSeen });
    const nl = await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey, region: 'NL', country: 'NL' });
    const de = await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey, region: 'DE', country: 'DE', tiers: ['T0', 'T1'] });
    const v1 = await read();
    assert.equal(v1.catalog.frontDoors.length, 3);
    assert.deepEqual(v1.catalog.frontDoors.map((d) => d.tier).sort(), ['T0', 'T0', 'T1']);
    assert.equal((await read(v1)).version, v1.version, 'unchanged doors, same version');

    clock.advance(45);
    await heartbeat(cp.database.db, de.gatewayId, clock.now());
    clock.advance(30); // NL last seen 75 s ago, DE 30 s ago
    const v2 = await read(v1);
    assert.ok(v2.catalog.version > v1.catalog.version);
    assert.deepEqual([...new Set(v2.catalog.frontDoors.map((d) => d.region))], ['DE']);
    const posture = (await cp.call('GET', '/v1/posture')).body;
    assert.equal(posture.status, 'degraded');
    assert.equal(posture.regions.find((r: any) => r.region === 'NL').gatewaysOnline, 0);

    const pass = (await cp.call('POST', '/v1/install-passes')).body.installPass;
    const e = await cp.call('POST', '/v1/enroll', { installPass: pass, publicKey: wgKeyPair().publicKey, region: 'NL', exitCountry: 'NL' });
    assert.equal(e.status, 201);
    assert.equal(e.body.placement.honoured, false);
    assert.equal(e.body.placement.given.region, 'DE');
    assert.match(e.body.placement.reason, /offline/);
    // The answer names its door by the catalog's id, and describes it exactly as the signed catalog does
    // (the wizard renders the config from the catalog's entry: core/door-binding.ts).
    const signedDoor = (await read(v2)).catalog.frontDoors.find((d) => d.id === e.body.frontDoor.id);
    assert.deepEqual(e.body.frontDoor, signedDoor);
    assert.equal(e.body.frontDoor.tier, 'T0', "lane 0's listen-port door is the primary one");
    assert.equal(new Set(v1.catalog.frontDoors.map((d) => d.id)).size, 3, 'door ids are unique in the catalog');
    void nl;

    clock.advance(120); // everything offline
    const p2 = (await cp.call('POST', '/v1/install-passes')).body.installPass;
    const before = await tableCounts(cp.database.db);
    const none = await cp.call('POST', '/v1/enroll', { installPass: p2, publicKey: wgKeyPair().publicKey });
    assert.equal(none.status, 503);
    assert.equal(none.body.error.code, 'no_gateway_available');
    assert.deepEqual(await tableCounts(cp.database.db), before, 'the pass is not consumed');
    assert.equal((await cp.call('GET', '/v1/posture')).body.status, 'down');
  } finally {
    await cp.stop();
  }
});

test('the catalog is re-signed before it expires', async () => {
  const clock = new ManualClock(new Date());
  const cp = await startTestControlPlane({ clock, config: { catalogTtlSeconds: 3600, gatewayOfflineAfterSeconds: 100000 } });
  try {
    await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey });
    const root = trustRoot((await cp.call('GET', '/v1/trust/root/1.json')).body);
    const a = verifyCatalog((await cp.call('GET', '/v1/catalog')).body, root, { now: clock.now() });
    clock.advance(1801);
    const b = verifyCatalog((await cp.call('GET', '/v1/catalog')).body, root, { now: clock.now(), lastSeen: a });
    assert.equal(b.catalog.version, a.catalog.version + 1);
    assert.ok(Date.parse(b.catalog.expiresAt) > Date.parse(a.catalog.expiresAt));
  } finally {
    await cp.stop();
  }
});
