/**
 * The control plane's HTTP API on a real Postgres over real HTTP: the happy
 * path as a client written only from the OpenAPI document would drive it,
 * and every refusal leaving the store unchanged.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { startTestControlPlane, registerTestGateway, type TestControlPlane } from '../helpers/control-plane.js';
import { tableCounts } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';
import { pae } from '../../src/core/envelope.js';
import { ManualClock } from '../../src/core/clock.js';

let cp: TestControlPlane;
const secrets: string[] = [];

before(async () => {
  cp = await startTestControlPlane({ config: { mintLimitPerHour: 1000 } });
  const gw = await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey, region: 'NL', country: 'NL' });
  secrets.push(gw.credential, cp.operatorToken);
});
after(async () => {
  await cp?.stop();
});

async function mint(headers: Record<string, string> = {}): Promise<string> {
  const r = await cp.call('POST', '/v1/install-passes', undefined, headers);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  secrets.push(r.body.installPass);
  return r.body.installPass;
}

test('a client written only from /v1/openapi.json mints, enrolls, reads whoami, verifies the catalog independently and finds the audit trail', async () => {
  const doc = (await cp.call('GET', '/v1/openapi.json')).body;
  assert.equal(doc.openapi, '3.0.3');
  const mintOp = doc.paths['/v1/install-passes'].post;
  const enrollOp = doc.paths['/v1/enroll'].post;
  assert.ok(mintOp.responses['201'] && enrollOp.responses['201']);
  const enrollSchema = enrollOp.requestBody.content['application/json'].schema;
  assert.deepEqual([...enrollSchema.required].sort(), ['installPass', 'publicKey']);
  assert.equal(enrollSchema.additionalProperties, false);
  assert.ok(!('privateKey' in enrollSchema.properties), 'no API accepts a private key');

  const mintRes = await cp.call('POST', '/v1/install-passes');
  const passField = Object.keys(mintOp.responses['201'].content['application/json'].schema.properties).find((k) => /pass/i.test(k))!;
  const pass = mintRes.body[passField];
  secrets.push(pass);
  const kp = wgKeyPair();
  const body: Record<string, string> = {};
  for (const f of enrollSchema.required) body[f] = f === 'publicKey' ? kp.publicKey : pass;
  const enrolled = await cp.call('POST', '/v1/enroll', body);
  assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
  assert.match(enrolled.body.addresses.ipv4, /^10\.66\./);
  assert.match(enrolled.body.addresses.ipv6, /^fd0d:a44d:66::/);
  assert.equal(enrolled.body.frontDoor.region, 'NL');
  assert.match(enrolled.body.frontDoor.endpoint, /^192\.0\.2\.10:51820$/);
  assert.equal(enrolled.body.placement.honoured, true);

  const who = await cp.call('GET', `/v1/whoami?device=${enrolled.body.deviceId}`);
  assert.equal(who.status, 200);
  assert.equal(who.body.ip, '127.0.0.1');
  assert.equal(who.body.viaDamm, false);
  assert.equal(who.body.device.id, enrolled.body.deviceId);
  assert.equal(who.body.device.onThisGateway, false);

  const env = (await cp.call('GET', '/v1/catalog')).body;
  const keys = (await cp.call('GET', '/v1/keys')).body;
  const k = keys.catalog.find((x: any) => x.keyid === env.signatures[0].keyid);
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(k.publicKey, 'base64')]);
  const ok = nodeVerify(null, pae(env.payloadType, Buffer.from(env.payload, 'base64')), createPublicKey({ key: spki, format: 'der', type: 'spki' }), Buffer.from(env.signatures[0].sig, 'base64'));
  assert.equal(ok, true);
  const catalog = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
  assert.equal(catalog.frontDoors.length, 1);
  assert.equal(catalog.frontDoors[0].publicKey, enrolled.body.frontDoor.publicKey);

  const audit = (await cp.op('GET', '/v1/operator/audit?limit=1000')).body.entries as any[];
  const actions = audit.map((e) => e.action);
  for (const a of ['gateway.added', 'gateway.registered', 'pass.minted', 'pass.consumed', 'device.enrolled', 'catalog.signed']) assert.ok(actions.includes(a), a);
  assert.ok(audit.some((e) => e.action === 'device.enrolled' && e.subject === `device:${enrolled.body.deviceId}`));
});

async function assertRefusedAndUnchanged(send: () => Promise<{ status: number; body: any }>, status: number, code: string) {
  const beforeCounts = await tableCounts(cp.database.db);
  const r = await send();
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.error.code, code, JSON.stringify(r.body));
  assert.equal(typeof r.body.error.message, 'string');
  assert.deepEqual(await tableCounts(cp.database.db), beforeCounts, 'the store must be unchanged');
}

test('malformed public keys get 400 invalid_public_key and change nothing', async () => {
  const pass = await mint();
  for (const publicKey of ['', 'not-a-key', 'A'.repeat(44), Buffer.alloc(32).toString('base64'), Buffer.alloc(31, 1).toString('base64'), 42]) {
    await assertRefusedAndUnchanged(() => cp.call('POST', '/v1/enroll', { installPass: pass, publicKey }), 400, 'invalid_public_key');
  }
});

test('unknown fields, oversized bodies, wrong content types and bad JSON are refused and change nothing', async () => {
  const pass = await mint();
  const kp = wgKeyPair();
  await assertRefusedAndUnchanged(() => cp.call('POST', '/v1/enroll', { installPass: pass, publicKey: kp.publicKey, privateKey: kp.privateKey }), 400, 'invalid_request');
  await assertRefusedAndUnchanged(() => cp.call('POST', '/v1/enroll', { installPass: pass, publicKey: kp.publicKey, region: 'x'.repeat(40000) }), 413, 'payload_too_large');
  await assertRefusedAndUnchanged(() => cp.call('POST', '/v1/enroll', 'installPass=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');
  await assertRefusedAndUnchanged(() => cp.call('POST', '/v1/enroll', '{"installPass":', { 'content-type': 'application/json' }), 400, 'invalid_request');
  await assertRefusedAndUnchanged(() => cp.call('POST', '/v1/enroll', { installPass: 'dp_short', publicKey: kp.publicKey }), 400, 'invalid_request');
  await assertRefusedAndUnchanged(() => cp.call('POST', '/v1/enroll', { installPass: pass, publicKey: kp.publicKey, exitCountry: 'Netherlands' }), 400, 'invalid_request');
  await assertRefusedAndUnchanged(() => cp.call('GET', '/v1/whoami?device=not-a-uuid'), 400, 'invalid_request');
  await assertRefusedAndUnchanged(() => cp.op('POST', '/v1/operator/invites', { uses: 2, admin: true }), 400, 'invalid_request');
});

test('reused, unknown and expired passes are refused with their own codes and change nothing', async () => {
  const pass = await mint();
  const first = await cp.call('POST', '/v1/enroll', { installPass: pass, publicKey: wgKeyPair().publicKey });
  assert.equal(first.status, 201);
  await assertRefusedAndUnchanged(() => cp.call('POST', '/v1/enroll', { installPass: pass, publicKey: wgKeyPair().publicKey }), 403, 'pass_used');
  await assertRefusedAndUnchanged(() => cp.call('POST', '/v1/enroll', { installPass: `dp_${'A'.repeat(32)}`, publicKey: wgKeyPair().publicKey }), 403, 'invalid_pass');

  const clock = new ManualClock(new Date());
  const timed = await startTestControlPlane({ clock, database: cp.database, config: { mintLimitPerHour: 1000 } });
  try {
    const p = (await timed.call('POST', '/v1/install-passes')).body.installPass;
    secrets.push(p);
    clock.advance(15 * 60 + 1);
    const beforeCounts = await tableCounts(cp.database.db);
    const r = await timed.call('POST', '/v1/enroll', { installPass: p, publicKey: wgKeyPair().publicKey });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'pass_expired');
    assert.deepEqual(await tableCounts(cp.database.db), beforeCounts);
  } finally {
    await timed.stop();
  }
});

test('a key already enrolled is refused with 409 and the pass is not consumed', async () => {
  const kp = wgKeyPair();
  assert.equal((await cp.call('POST', '/v1/enroll', { installPass: await mint(), publicKey: kp.publicKey })).status, 201);
  const pass = await mint();
  await assertRefusedAndUnchanged(() => cp.call('POST', '/v1/enroll', { installPass: pass, publicKey: kp.publicKey }), 409, 'key_already_enrolled');
  assert.equal((await cp.call('POST', '/v1/enroll', { installPass: pass, publicKey: wgKeyPair().publicKey })).status, 201, 'the pass still works');
});

test('50 concurrent enrollments with one pass give exactly one success', async () => {
  const pass = await mint();
  const results = await Promise.all(Array.from({ length: 50 }, () => cp.call('POST', '/v1/enroll', { installPass: pass, publicKey: wgKeyPair().publicKey })));
  const ok = results.filter((r) => r.status === 201);
  assert.equal(ok.length, 1);
  for (const r of results.filter((x) => x.status !== 201)) assert.equal(r.body.error.code, 'pass_used');
});

test('200 concurrent enrollments on distinct passes give 200 distinct addresses', async () => {
  const passes = await Promise.all(Array.from({ length: 200 }, () => cp.op('POST', '/v1/operator/passes', {})));
  const results = await Promise.all(passes.map((p) => cp.call('POST', '/v1/enroll', { installPass: p.body.token, publicKey: wgKeyPair().publicKey })));
  assert.deepEqual(results.map((r) => r.status), Array(200).fill(201));
  assert.equal(new Set(results.map((r) => r.body.addresses.ipv4)).size, 200);
  assert.equal(new Set(results.map((r) => r.body.addresses.ipv6)).size, 200);
  const dup = await cp.database.db.query("SELECT address_offset FROM devices WHERE state <> 'revoked' GROUP BY address_offset HAVING count(*) > 1");
  assert.equal(dup.rowCount, 0);
});

test('invites carry a tier, an expiry and a number of uses, on the same enroll endpoint', async () => {
  const inv = await cp.op('POST', '/v1/operator/invites', { uses: 3, tier: 'unlimited', expiresInSeconds: 3600, note: 'friends' });
  assert.equal(inv.status, 201);
  secrets.push(inv.body.token);
  assert.match(inv.body.link, /\/get\/\?invite=dp_/);
  // The link carries the root-of-trust pin in its fragment (never sent to a server), for the wizard.
  const trust = await cp.call('GET', '/v1/trust');
  assert.equal(new URL(inv.body.link).hash, `#root=${trust.body.rootV1Sha256}`);
  assert.equal(new URL(inv.body.link).searchParams.get('invite'), inv.body.token);
  for (let i = 0; i < 3; i++) {
    const r = await cp.call('POST', '/v1/enroll', { installPass: inv.body.token, publicKey: wgKeyPair().publicKey });
    assert.equal(r.status, 201);
    assert.equal(r.body.tier, 'unlimited');
    assert.equal(r.body.quotaBytes, null);
  }
  await assertRefusedAndUnchanged(() => cp.call('POST', '/v1/enroll', { installPass: inv.body.token, publicKey: wgKeyPair().publicKey }), 403, 'pass_used');
  const list = await cp.op('GET', '/v1/operator/passes');
  const row = list.body.passes.find((p: any) => p.id === inv.body.id);
  assert.deepEqual([row.kind, row.usesLeft, row.maxUses, row.state, row.note], ['invite', 0, 3, 'used', 'friends']);
  assert.ok(!JSON.stringify(list.body).includes(inv.body.token), 'listing never shows a pass secret');
  await assertRefusedAndUnchanged(() => cp.op('POST', '/v1/operator/invites', { tier: 'platinum' }), 400, 'invalid_argument');
});

test('operator endpoints need a valid operator token', async () => {
  for (const auth of [undefined, 'Bearer nope', `Bearer do_${'x'.repeat(32)}`, cp.operatorToken]) {
    const r = await cp.call('GET', '/v1/operator/devices', undefined, auth ? { authorization: auth } : {});
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, 'unauthorized');
  }
});

test('revoking a device frees its address for the next enrollment and is audited', async () => {
  const e = await cp.call('POST', '/v1/enroll', { installPass: await mint(), publicKey: wgKeyPair().publicKey });
  const r = await cp.op('POST', `/v1/operator/devices/${e.body.deviceId}/revoke`, { reason: 'lost phone' });
  assert.equal(r.status, 200);
  assert.equal(r.body.state, 'revoked');
  assert.equal((await cp.op('POST', `/v1/operator/devices/${e.body.deviceId}/revoke`, {})).body.error.code, 'conflict');
  assert.equal((await cp.op('POST', '/v1/operator/devices/00000000-0000-4000-8000-000000000000/revoke', {})).status, 404);
  const next = await cp.call('POST', '/v1/enroll', { installPass: await mint(), publicKey: wgKeyPair().publicKey });
  assert.equal(next.body.addresses.ipv4, e.body.addresses.ipv4, 'freed address is reused');
  const list = await cp.op('GET', '/v1/operator/devices?state=revoked');
  assert.ok(list.body.devices.some((d: any) => d.id === e.body.deviceId && d.stateReason === 'lost phone'));
  const audit = (await cp.op('GET', '/v1/operator/audit?action=device.revoked')).body.entries;
  assert.ok(audit.some((a: any) => a.subject === `device:${e.body.deviceId}`));
});

test('health, readiness and Prometheus metrics with per-route latency histograms', async () => {
  assert.equal((await cp.call('GET', '/healthz')).body.status, 'ok');
  assert.equal((await cp.call('GET', '/readyz')).body.status, 'ready');
  const m = (await cp.call('GET', '/metrics')).body as string;
  assert.match(m, /damm_http_request_duration_seconds_bucket\{le="0.01",route="\/v1\/enroll",method="POST"\}/);
  assert.match(m, /damm_passes_minted_total\{kind="public"\} \d+/);
  assert.match(m, /damm_enrollments_total \d+/);
  assert.match(m, /damm_rejections_total\{reason="invalid_public_key"\} \d+/);
  assert.match(m, /damm_rejections_total\{reason="pass_used"\} \d+/);
  assert.match(m, /damm_http_requests_total\{route="\/v1\/enroll",method="POST",status="409"\}/);
});

test('unknown routes get a JSON 404 with a code', async () => {
  const r = await cp.call('GET', '/v1/nope');
  assert.equal(r.status, 404);
  assert.equal(r.body.error.code, 'not_found');
});

test('posture describes the service in words', async () => {
  const p = (await cp.call('GET', '/v1/posture')).body;
  assert.equal(p.status, 'ok');
  assert.equal(p.controlPlane.store, 'postgres');
  assert.equal(p.regions[0].region, 'NL');
  assert.equal(p.regions[0].gatewaysOnline, 1);
  assert.ok(p.catalog.version >= 1);
  assert.match(p.summary, /online/);
});

test('no secret ever reaches the logs or the audit log', async () => {
  // Put an invite in a URL the way the wizard link does, and a token in a header.
  const inv = await cp.op('POST', '/v1/operator/invites', {});
  secrets.push(inv.body.token);
  await cp.call('GET', `/get/?invite=${inv.body.token}`);
  await cp.call('GET', `/v1/whoami?x=${inv.body.token}`);
  const logText = cp.logs.join('');
  assert.ok(logText.length > 1000, 'logs were captured');
  assert.match(logText, /"reqId":"[^"]+"/);
  const audit = JSON.stringify((await cp.op('GET', '/v1/operator/audit?limit=1000')).body);
  const hashes = await cp.database.db.query("SELECT encode(token_hash, 'hex') AS h FROM install_passes");
  for (const s of secrets) {
    assert.ok(!logText.includes(s), `secret ${s.slice(0, 6)}… leaked into logs`);
    assert.ok(!audit.includes(s), `secret ${s.slice(0, 6)}… leaked into the audit log`);
  }
  const stored = await cp.database.db.query('SELECT * FROM install_passes');
  const dump = JSON.stringify(stored.rows);
  for (const s of secrets) assert.ok(!dump.includes(s), 'passes are stored only as hashes');
  assert.ok(hashes.rows.every((r) => r.h.length === 64));
});
