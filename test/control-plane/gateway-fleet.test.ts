/**
 * Several gateways per region: placement spreads a burst evenly, also across
 * two control-plane processes; drain and undrain; removal, and whoami telling
 * a device whose gateway is gone that its config leads nowhere.
 * Real control planes, real Postgres, real HTTP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestControlPlane, registerTestGateway, retryingStoreUnavailable, type TestControlPlane } from '../helpers/control-plane.js';
import { createTestDatabase, tableCounts } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';
import { createPool } from '../../src/store/db.js';
import { verifyCatalog } from '../../src/core/catalog.js';
import { trustRoot } from '../../src/core/trust/root.js';

async function enroll(cp: TestControlPlane, pass: string, region = 'NL') {
  const publicKey = wgKeyPair().publicKey;
  const r = await retryingStoreUnavailable('an enrollment', () => cp.call('POST', '/v1/enroll', { installPass: pass, publicKey, region }));
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function perGateway(cp: TestControlPlane): Promise<Map<string, number>> {
  const r = await cp.database.db.query<{ gateway_id: string; n: string }>("SELECT gateway_id, count(*) AS n FROM devices WHERE state = 'active' GROUP BY gateway_id");
  return new Map(r.rows.map((x) => [x.gateway_id, Number(x.n)]));
}

test('a burst of 300 concurrent enrollments through two control-plane processes spreads over three gateways within 10% of even', async (t) => {
  const database = await createTestDatabase();
  const a = await startTestControlPlane({ database });
  // The second process: its own pool (so its own placement counts), the same database and keys.
  const poolB = createPool(database.url, 8);
  const b = await startTestControlPlane({ database: { ...database, db: poolB, close: () => poolB.end() } });
  try {
    const gws = [];
    for (let i = 0; i < 3; i++) gws.push(await registerTestGateway(a, { publicKey: wgKeyPair().publicKey, region: 'NL', country: 'NL', host: `192.0.2.${10 + i}`, egressIps: [`192.0.2.${10 + i}`] }));
    gws.push(await registerTestGateway(a, { publicKey: wgKeyPair().publicKey, region: 'DE', country: 'DE', host: '192.0.2.20', egressIps: ['192.0.2.20'] }));
    const invite = (await a.op('POST', '/v1/operator/invites', { uses: 300 })).body.token as string;
    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => enroll(i % 2 === 0 ? a : b, invite)));
    const counts = await perGateway(a);
    const nl = gws.slice(0, 3).map((g) => counts.get(g.gatewayId) ?? 0);
    assert.equal(nl.reduce((x, y) => x + y, 0), 300, 'every device asked for NL and got it');
    t.diagnostic(`devices per NL gateway: ${nl.join(' / ')}`);
    for (const n of nl) assert.ok(n >= 90 && n <= 110, `per gateway ${JSON.stringify(nl)}: each within 10% of 100`);
    assert.equal(counts.get(gws[3]!.gatewayId) ?? 0, 0, 'nothing went to another region');
    // The answer keeps its reason sentence and names the gateway the device landed on.
    for (const e of answers) {
      assert.equal(e.placement.honoured, true);
      assert.equal(e.placement.reason, 'As requested: region NL.');
      assert.equal(e.frontDoor.gatewayId, e.placement.given.gatewayId);
    }
  } finally {
    await b.stop();
    await poolB.end();
    await a.stop();
    await database.close();
  }
});

test('a drained gateway takes no new device while listed, posted and catalogued as drained; undrain reopens it; both are audited', async () => {
  const cp = await startTestControlPlane();
  try {
    const g1 = await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey, host: '192.0.2.11', egressIps: ['192.0.2.11'] });
    const g2 = await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey, host: '192.0.2.12', egressIps: ['192.0.2.12'] });
    const invite = (await cp.op('POST', '/v1/operator/invites', { uses: 100 })).body.token as string;
    for (let i = 0; i < 4; i++) await enroll(cp, invite);
    assert.deepEqual([...(await perGateway(cp)).values()], [2, 2]);

    const d = await cp.op('POST', `/v1/operator/gateways/${g1.gatewayId}/drain`, { reason: 'moving hosts' });
    assert.equal(d.status, 200, JSON.stringify(d.body));
    assert.equal(d.body.drained, true);
    assert.ok(d.body.drainedAt);
    for (let i = 0; i < 10; i++) assert.equal((await enroll(cp, invite)).placement.given.gatewayId, g2.gatewayId);
    assert.equal((await perGateway(cp)).get(g1.gatewayId), 2, 'its devices stay placed there');

    const list = (await cp.op('GET', '/v1/operator/gateways')).body.gateways;
    assert.deepEqual(list.map((g: any) => [g.id, g.drained]).sort(), [[g1.gatewayId, true], [g2.gatewayId, false]].sort());
    const posture = (await cp.call('GET', '/v1/posture')).body;
    assert.equal(posture.regions[0].gatewaysDrained, 1);
    assert.equal(posture.regions[0].gatewaysOnline, 2, 'a drained gateway still serves');
    assert.match(posture.summary, /1 of them is drained \(no new devices\)/);
    // Its doors stay in the signed catalog: its devices render their config from there.
    const root = trustRoot((await cp.call('GET', '/v1/trust/root/1.json')).body);
    const { catalog } = verifyCatalog((await cp.call('GET', '/v1/catalog')).body, root, { now: new Date() });
    assert.ok(catalog.frontDoors.some((f) => f.gatewayId === g1.gatewayId));

    // Drained twice changes nothing; undrain reopens it (the least loaded now gets the next ones).
    assert.equal((await cp.op('POST', `/v1/operator/gateways/${g1.gatewayId}/drain`, {})).status, 200);
    const u = await cp.op('POST', `/v1/operator/gateways/${g1.gatewayId}/undrain`, {});
    assert.equal(u.body.drained, false);
    assert.equal((await enroll(cp, invite)).placement.given.gatewayId, g1.gatewayId);
    const audit = (await cp.op('GET', '/v1/operator/audit?limit=1000')).body.entries.filter((e: any) => e.action.startsWith('gateway.') && e.action.includes('drain'));
    assert.deepEqual(audit.map((e: any) => [e.action, e.subject, e.actor]), [
      ['gateway.drained', `gateway:${g1.gatewayId}`, 'operator:test'],
      ['gateway.undrained', `gateway:${g1.gatewayId}`, 'operator:test'],
    ]);
    assert.equal(audit[0].details.reason, 'moving hosts');

    // With every gateway drained: 503 with its own sentence, and the pass is not used.
    await cp.op('POST', `/v1/operator/gateways/${g1.gatewayId}/drain`, {});
    await cp.op('POST', `/v1/operator/gateways/${g2.gatewayId}/drain`, {});
    const pass = (await cp.call('POST', '/v1/install-passes')).body.installPass;
    const before = await tableCounts(cp.database.db);
    const none = await cp.call('POST', '/v1/enroll', { installPass: pass, publicKey: wgKeyPair().publicKey });
    assert.equal(none.status, 503);
    assert.equal(none.body.error.code, 'no_gateway_available');
    assert.match(none.body.error.message, /closed to new devices/);
    assert.deepEqual(await tableCounts(cp.database.db), before);

    // Bad input: a clear error, nothing changed.
    for (const [path, status, code] of [
      ['/v1/operator/gateways/not-a-uuid/drain', 400, undefined],
      ['/v1/operator/gateways/00000000-0000-4000-8000-000000000000/drain', 404, 'not_found'],
    ] as const) {
      const r = await cp.op('POST', path, {});
      assert.equal(r.status, status);
      if (code) assert.equal(r.body.error.code, code);
    }
    assert.equal((await cp.op('POST', `/v1/operator/gateways/${g1.gatewayId}/drain`, { extra: 1 })).status, 400);
    assert.equal((await cp.call('POST', `/v1/operator/gateways/${g1.gatewayId}/undrain`, {})).status, 401, 'operators only');
    assert.deepEqual(await tableCounts(cp.database.db), before);
  } finally {
    await cp.stop();
  }
});

test('a removed gateway leaves the catalog, placement and list, its credential stops working, and whoami tells its devices their config leads nowhere', async () => {
  const cp = await startTestControlPlane();
  try {
    const gone = await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey, host: '192.0.2.11', egressIps: ['192.0.2.11'] });
    const invite = (await cp.op('POST', '/v1/operator/invites', { uses: 10 })).body.token as string;
    const stranded = await enroll(cp, invite);
    assert.equal(stranded.placement.given.gatewayId, gone.gatewayId);
    const fine = (await cp.call('GET', `/v1/whoami?device=${stranded.deviceId}`)).body;
    assert.deepEqual(fine.device.placedOn, { gatewayId: gone.gatewayId, name: fine.device.placedOn.name, status: 'active' });
    assert.equal(fine.device.notice, null);

    const other = await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey, host: '192.0.2.12', egressIps: ['192.0.2.12'] });
    const r = await cp.op('POST', `/v1/operator/gateways/${gone.gatewayId}/remove`, { reason: 'provider cancelled the account' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.devicesPlaced, 1);

    const who = (await cp.call('GET', `/v1/whoami?device=${stranded.deviceId}`)).body;
    assert.equal(who.device.placedOn.status, 'removed');
    assert.match(who.device.notice, /was shut down for good on \d{4}-\d{2}-\d{2}, and nothing took its place: this configuration no longer leads anywhere/);
    assert.match(who.device.notice, /Get a new configuration/);

    // Gone from the operator list, the signed catalog and placement; the next device lands on the other one.
    assert.deepEqual((await cp.op('GET', '/v1/operator/gateways')).body.gateways.map((g: any) => g.id), [other.gatewayId]);
    const root = trustRoot((await cp.call('GET', '/v1/trust/root/1.json')).body);
    const { catalog } = verifyCatalog((await cp.call('GET', '/v1/catalog')).body, root, { now: new Date() });
    assert.ok(catalog.frontDoors.every((f) => f.gatewayId !== gone.gatewayId));
    const next = await enroll(cp, invite);
    assert.equal(next.placement.given.gatewayId, other.gatewayId);
    assert.equal((await cp.call('GET', `/v1/whoami?device=${next.deviceId}`)).body.device.notice, null);

    // Its agent is refused from now on.
    const hb = await cp.call('GET', `/v1/gateways/${gone.gatewayId}/feed?after=0`, undefined, { authorization: `Bearer ${gone.credential}` });
    assert.equal(hb.status, 401);
    // Removed twice, drained after removal: 409, nothing changes.
    const before = await tableCounts(cp.database.db);
    assert.equal((await cp.op('POST', `/v1/operator/gateways/${gone.gatewayId}/remove`, {})).body.error.code, 'conflict');
    assert.equal((await cp.op('POST', `/v1/operator/gateways/${gone.gatewayId}/drain`, {})).body.error.code, 'conflict');
    assert.deepEqual(await tableCounts(cp.database.db), before);
    const audit = (await cp.op('GET', '/v1/operator/audit?action=gateway.removed')).body.entries;
    assert.equal(audit.length, 1);
    assert.deepEqual(audit[0].details, { name: audit[0].details.name, region: 'NL', devicesPlaced: 1, reason: 'provider cancelled the account' });
  } finally {
    await cp.stop();
  }
});
