/**
 * A gateway with two lanes (two WireGuard interfaces: lane 0 and lane 2,
 * in-memory) against a real control plane: both lanes registered and signed
 * into the catalog with their own keys and prefixes; one admission record
 * puts a device on both interfaces at the same offset; revocation, drift
 * repair and metering act on every lane; each lane's health reaches the
 * gateway list and the posture answer; doors added at a restart reach the
 * catalog (PUT doors re-signs it); an AmneziaWG lane's parameters are drawn
 * once, persisted, signed, and repaired when the daemon loses them. Real packets through both lanes:
 * test/e2e/doors.e2e.test.ts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { GatewayAgent, type LaneOptions } from '../../src/gateway/agent/agent.js';
import { HttpControlPlaneApi } from '../../src/gateway/agent/api.js';
import { nodeEd25519 } from '../../src/platform/node-ed25519.js';
import { systemClock } from '../../src/core/clock.js';
import { verifyCatalog } from '../../src/core/catalog.js';
import { trustRoot } from '../../src/core/trust/root.js';
import { bindEnrolledDoors } from '../../src/core/door-binding.js';
import { generateAwgParams, validateAwgParams } from '../../src/core/amneziawg.js';
import { FakeBackend } from './fake-backend.js';
import { enroll, invite, startFeedControlPlane, until, type FeedControlPlane } from './kit.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function newToken(cp: FeedControlPlane): Promise<string> {
  return (await cp.op('POST', '/v1/operator/gateways', { region: 'NL', country: 'NL' })).body.registrationToken;
}

interface Harness {
  agent: GatewayAgent;
  lane0: FakeBackend;
  lane2: FakeBackend | null;
  stateDir: string;
}

async function startAgent(cp: FeedControlPlane, opts: { token?: string; stateDir?: string; secondLane: boolean }): Promise<Harness> {
  const stateDir = opts.stateDir ?? (await mkdtemp(path.join(tmpdir(), 'damm-gw-lanes-')));
  if (!opts.stateDir) cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
  const lane0 = new FakeBackend();
  const lane2 = opts.secondLane ? new FakeBackend() : null;
  const lanes: LaneOptions[] = lane2 ? [{ lane: 2, protocol: 'wireguard', tier: 'T0', interfaceName: 'wgtest2', listenPort: 51822, backend: lane2 }] : [];
  const agent = new GatewayAgent({
    controlPlane: cp.url,
    ...(opts.token ? { token: opts.token } : {}),
    interfaceName: 'wgtest0',
    listenPort: 51820,
    endpoint: { host: '192.0.2.10', port: 51820 },
    egressIps: ['192.0.2.10'],
    stateDir,
    backend: lane0,
    lanes,
    api: new HttpControlPlaneApi(cp.url, 3000),
    host: null,
    nat: false,
    clock: systemClock,
    log: pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() })),
    ed: nodeEd25519(),
    reconcileIntervalMs: 3_600_000,
    heartbeatIntervalMs: 3_600_000,
    pollWaitSeconds: 5,
  });
  await agent.start();
  cleanups.push(() => agent.stop());
  return { agent, lane0, lane2, stateDir };
}

async function catalogOf(cp: FeedControlPlane) {
  const root = trustRoot((await cp.call('GET', '/v1/trust/root/1.json')).body);
  return verifyCatalog((await cp.call('GET', '/v1/catalog')).body, root, { now: new Date() });
}

test('two lanes: both signed into the catalog, one record puts a device on both at one offset, revocation leaves both', async () => {
  const cp = await startFeedControlPlane();
  cleanups.push(() => cp.stop());
  const h = await startAgent(cp, { token: await newToken(cp), secondLane: true });
  const gw = h.agent.gatewayId;
  const [l0, l2] = h.agent.laneInfo;
  assert.notEqual(l0!.publicKey, l2!.publicKey, 'each interface has its own key pair');
  assert.equal(h.lane0.publicKey, l0!.publicKey);
  assert.equal(h.lane2!.publicKey, l2!.publicKey);
  assert.equal(h.lane2!.listenPort, 51822);
  assert.equal((await stat(path.join(h.stateDir, 'wg-private-lane2.key'))).mode & 0o777, 0o600);

  const { catalog } = await catalogOf(cp);
  assert.deepEqual(
    catalog.frontDoors.map((d) => [d.id, d.protocol, d.params, d.publicKey, d.tunnel.ipv4Cidr, d.tunnel.ipv6Prefix]),
    [
      [`${gw}/T0/51820`, 'wireguard', null, l0!.publicKey, '10.66.0.0/16', 'fd0d:a44d:66::/64'],
      [`${gw}/T0/51822`, 'wireguard', null, l2!.publicKey, '10.68.0.0/16', 'fd0d:a44d:66:2::/64'],
    ],
  );

  const pass = await invite(cp, 10);
  const devs = await Promise.all([enroll(cp.url, pass), enroll(cp.url, pass), enroll(cp.url, pass)]);
  const d = devs[1]!;
  // The answer names both doors, with the device's addresses in each lane at the same offset; they bind to the verified catalog.
  assert.equal(d.body.frontDoor.id, `${gw}/T0/51820`);
  const bound = bindEnrolledDoors(d.body, catalog.frontDoors);
  assert.deepEqual(bound.map((b) => b.door.id), [`${gw}/T0/51820`, `${gw}/T0/51822`]);
  const offset = Number(d.body.addresses.ipv4.split('.')[3]) + 256 * Number(d.body.addresses.ipv4.split('.')[2]);
  assert.deepEqual(bound[0]!.addresses, d.body.addresses);
  assert.equal(bound[1]!.addresses.ipv4, `10.68.${Math.floor(offset / 256)}.${offset % 256}`);
  assert.equal(bound[1]!.addresses.ipv6, `fd0d:a44d:66:2::${offset.toString(16)}`);

  await until('every device on both lanes', () => devs.every((x) => h.lane0.peers.has(x.publicKey) && h.lane2!.peers.has(x.publicKey)) || undefined);
  assert.deepEqual(h.lane0.peers.get(d.publicKey)!.allowedIps.sort(), [`${d.body.addresses.ipv4}/32`, `${d.body.addresses.ipv6}/128`].sort());
  assert.deepEqual(h.lane2!.peers.get(d.publicKey)!.allowedIps.sort(), [`${bound[1]!.addresses.ipv4}/32`, `${bound[1]!.addresses.ipv6}/128`].sort());

  // Revoked: the peer leaves both interfaces, the others stay on both.
  await cp.op('POST', `/v1/operator/devices/${d.deviceId}/revoke`, {});
  await until('revoked peer gone from both lanes', () => (!h.lane0.peers.has(d.publicKey) && !h.lane2!.peers.has(d.publicKey)) || undefined);
  for (const x of [devs[0]!, devs[2]!]) assert.ok(h.lane0.peers.has(x.publicKey) && h.lane2!.peers.has(x.publicKey));

  // Drift on lane 2 only (its daemon restarted): the repair puts back its key, port and peers, lane 0 untouched.
  const lane0Calls = h.lane0.applyCalls;
  h.lane2!.restartDaemon();
  await h.agent.repairNow();
  assert.equal(h.lane2!.publicKey, l2!.publicKey);
  assert.equal(h.lane2!.listenPort, 51822);
  assert.deepEqual(h.lane2!.keys(), h.lane0.keys());
  assert.equal(h.lane0.applyCalls, lane0Calls + 1, 'lane 0 compared, nothing to change (an empty diff is one no-op call)');

  // Metering: a device's bytes on both lanes are summed into one heartbeat.
  const m = devs[0]!;
  h.lane0.peers.get(m.publicKey)!.rxBytes = 1000n;
  h.lane2!.peers.get(m.publicKey)!.txBytes = 234n;
  await h.agent.heartbeatNow();
  const who = (await cp.call('GET', `/v1/whoami?device=${m.deviceId}`)).body.device;
  assert.equal(who.usage.bytes, 1234);

  // Each lane's health, as the heartbeat reported it: in the gateway list and the posture answer.
  const list = (await cp.op('GET', '/v1/operator/gateways')).body.gateways;
  const g = list.find((x: any) => x.id === gw);
  assert.deepEqual(
    g.doors.map((x: any) => [x.lane, x.protocol, x.endpoints.map((e: any) => e.port), x.health.up, x.health.listening, x.health.peers]),
    [
      [0, 'wireguard', [51820], true, true, 2],
      [2, 'wireguard', [51822], true, true, 2],
    ],
  );
  const posture = (await cp.call('GET', '/v1/posture')).body;
  assert.deepEqual(posture.doors.map((x: any) => [x.lane, x.online, x.health.peers]), [[0, true, 2], [2, true, 2]]);

  // A lane whose daemon is gone is reported down (and its door not online), the other still up.
  h.lane2!.restartDaemon();
  await h.agent.heartbeatNow();
  const p2 = (await cp.call('GET', '/v1/posture')).body;
  assert.deepEqual(p2.doors.map((x: any) => [x.lane, x.online, x.health.up, x.health.listening]), [[0, true, true, true], [2, false, false, false]]);
});

test('doors stated at a restart reach the catalog: a lane added later re-signs it; an unchanged restart does not', async () => {
  const cp = await startFeedControlPlane();
  cleanups.push(() => cp.stop());
  const first = await startAgent(cp, { token: await newToken(cp), secondLane: false });
  const gw = first.agent.gatewayId;
  const v1 = await catalogOf(cp);
  assert.deepEqual(v1.catalog.frontDoors.map((d) => d.id), [`${gw}/T0/51820`]);
  const pass = await invite(cp, 10);
  const before = await enroll(cp.url, pass);
  assert.deepEqual(before.body.doors.map((x: any) => x.id), [`${gw}/T0/51820`]);
  await first.agent.stop();

  const second = await startAgent(cp, { stateDir: first.stateDir, secondLane: true });
  assert.equal(second.agent.gatewayId, gw, 'same registration, no token needed');
  const v2 = await catalogOf(cp);
  assert.ok(v2.version > v1.version, 'a new catalog version');
  assert.deepEqual(v2.catalog.frontDoors.map((d) => d.id), [`${gw}/T0/51820`, `${gw}/T0/51822`]);
  const changes = await cp.ctx.db.query("SELECT details FROM audit_log WHERE action = 'gateway.doors_changed'");
  assert.equal(changes.rows.length, 1);
  // The device enrolled before the lane existed is on the new lane too (one record, every lane).
  await until('old device on the new lane', () => second.lane2!.peers.has(before.publicKey) || undefined);
  await second.agent.stop();

  const third = await startAgent(cp, { stateDir: first.stateDir, secondLane: true });
  assert.equal((await catalogOf(cp)).version, v2.version, 'unchanged doors: same catalog');
  assert.equal((await cp.ctx.db.query("SELECT 1 FROM audit_log WHERE action = 'gateway.doors_changed'")).rows.length, 1);
  assert.equal(third.agent.laneInfo[1]!.publicKey, second.agent.laneInfo[1]!.publicKey, "the lane's key survives restarts");
});

test('PUT doors refuses what core/lane-doors.ts refuses, changes nothing, and only for the gateway itself', async () => {
  const cp = await startFeedControlPlane();
  cleanups.push(() => cp.stop());
  const h = await startAgent(cp, { token: await newToken(cp), secondLane: true });
  const reg = JSON.parse(await readFile(path.join(h.stateDir, 'gateway.json'), 'utf8'));
  const auth = { authorization: `Bearer ${reg.credential}` };
  const [l0, l2] = h.agent.laneInfo;
  const door0 = { lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: l0!.publicKey, params: null, endpoints: [{ host: '192.0.2.10', port: 51820 }] };
  const door2 = { lane: 2, protocol: 'wireguard', tier: 'T0', publicKey: l2!.publicKey, params: null, endpoints: [{ host: '192.0.2.10', port: 51822 }] };
  const stored = async () => (await cp.ctx.db.query('SELECT doors, wg_public_key FROM gateways WHERE id = $1', [reg.gatewayId])).rows[0];
  const was = await stored();
  const version = (await catalogOf(cp)).version;
  for (const [name, doors, code, words] of [
    ['lane 0 not WireGuard', [{ ...door0, protocol: 'amneziawg', params: null }, door2], 'invalid_argument', /Lane 0 must be plain WireGuard/],
    ['one key twice', [door0, { ...door2, publicKey: door0.publicKey }], 'invalid_argument', /public key of another lane/],
    ['a port twice', [door0, { ...door2, endpoints: [{ host: '192.0.2.10', port: 51820 }] }], 'invalid_argument', /named twice/],
    ['a lane out of range', [door0, { ...door2, lane: 4 }], 'invalid_request', /lane/],
    ['AmneziaWG params that do not fit the shape', [door0, { ...door2, protocol: 'amneziawg', params: { jc: 1 } }], 'invalid_request', /params/],
  ] as const) {
    const r = await cp.call('PUT', `/v1/gateways/${reg.gatewayId}/doors`, { doors }, auth);
    assert.equal(r.status, 400, name);
    assert.equal(r.body.error.code, code, name);
    assert.match(`${r.body.error.message} ${JSON.stringify(r.body.error.details ?? {})}`, words, name);
    assert.deepEqual(await stored(), was, `${name}: nothing changed`);
  }
  assert.equal((await catalogOf(cp)).version, version, 'no new catalog');
  // Another gateway's credential cannot state this gateway's doors.
  const other = await startAgent(cp, { token: await newToken(cp), secondLane: false });
  const otherReg = JSON.parse(await readFile(path.join(other.stateDir, 'gateway.json'), 'utf8'));
  const forbidden = await cp.call('PUT', `/v1/gateways/${reg.gatewayId}/doors`, { doors: [door0] }, { authorization: `Bearer ${otherReg.credential}` });
  assert.equal(forbidden.status, 403);
  assert.deepEqual(await stored(), was);
});

test('a pool with no room for a lane refuses its registration, and nothing is stored', async () => {
  const cp = await startFeedControlPlane({ config: { ipv4Pool: '10.255.0.0/16' } });
  cleanups.push(() => cp.stop());
  const add = await cp.op('POST', '/v1/operator/gateways', { region: 'NL', country: 'NL' });
  const { wgKeyPair } = await import('../helpers/keys.js');
  const r = await cp.call('POST', '/v1/gateways/register', {
    registrationToken: add.body.registrationToken,
    doors: [
      { lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: wgKeyPair().publicKey, params: null, endpoints: [{ host: '192.0.2.10', port: 51820 }] },
      { lane: 1, protocol: 'wireguard', tier: 'T0', publicKey: wgKeyPair().publicKey, params: null, endpoints: [{ host: '192.0.2.10', port: 51821 }] },
    ],
    egressIps: ['192.0.2.10'],
  });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, 'invalid_argument');
  assert.match(r.body.error.message, /no room for these lanes.*10\.0\.0\.0\/8/);
  const row = (await cp.ctx.db.query('SELECT registered_at, doors FROM gateways WHERE id = $1', [add.body.gatewayId])).rows[0];
  assert.equal(row.registered_at, null, 'the token was not spent');
  assert.deepEqual(row.doors, []);
});

test('an AmneziaWG lane: its parameters are drawn once, persisted and signed into the catalog; drift in them is repaired', async () => {
  const cp = await startFeedControlPlane();
  cleanups.push(() => cp.stop());
  const stateDir = await mkdtemp(path.join(tmpdir(), 'damm-gw-awg-'));
  cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
  let drawn = 0;
  const start = async (token?: string) => {
    const lane0 = new FakeBackend();
    const awg = new FakeBackend();
    const agent = new GatewayAgent({
      controlPlane: cp.url,
      ...(token ? { token } : {}),
      interfaceName: 'wgtest0',
      listenPort: 51820,
      endpoint: { host: '192.0.2.10', port: 51820 },
      egressIps: ['192.0.2.10'],
      stateDir,
      backend: lane0,
      lanes: [{
        lane: 1, protocol: 'amneziawg', tier: 'T1', interfaceName: 'awgtest0', listenPort: 51821, backend: awg,
        makeParams: () => (drawn++, generateAwgParams((n) => new Uint8Array(randomBytes(n)))),
        checkParams: validateAwgParams,
      }],
      api: new HttpControlPlaneApi(cp.url, 3000),
      host: null,
      nat: false,
      clock: systemClock,
      log: pino({ level: 'silent' }),
      ed: nodeEd25519(),
      reconcileIntervalMs: 3_600_000,
      heartbeatIntervalMs: 3_600_000,
      pollWaitSeconds: 5,
    });
    await agent.start();
    cleanups.push(() => agent.stop());
    return { agent, lane0, awg };
  };
  const first = await start(await newToken(cp));
  const gw = first.agent.gatewayId;
  const persisted = JSON.parse(await readFile(path.join(stateDir, 'door-params-lane1.json'), 'utf8'));
  assert.equal((await stat(path.join(stateDir, 'door-params-lane1.json'))).mode & 0o777, 0o600);
  assert.deepEqual(first.awg.awg, persisted, 'the interface runs the persisted parameters');
  const { catalog } = await catalogOf(cp);
  const awgDoor = catalog.frontDoors.find((d) => d.protocol === 'amneziawg')!;
  assert.deepEqual([awgDoor.id, awgDoor.tier, awgDoor.endpoint, awgDoor.tunnel.ipv4Cidr], [`${gw}/T1/51821`, 'T1', '192.0.2.10:51821', '10.67.0.0/16']);
  assert.deepEqual(awgDoor.params, persisted, 'the signed parameters are the ones the interface runs');

  const dev = await enroll(cp.url, await invite(cp, 1));
  const bound = bindEnrolledDoors(dev.body, catalog.frontDoors);
  assert.deepEqual(bound.map((b) => b.door.protocol), ['wireguard', 'amneziawg']);
  await until('the device on the AmneziaWG lane at its lane-1 address', () => first.awg.peers.get(dev.publicKey)?.allowedIps.includes(`${bound[1]!.addresses.ipv4}/32`) || undefined);

  // amneziawg-go restarted: default headers, no key; the repair sets key, port and parameters again.
  first.awg.restartDaemon();
  await first.agent.repairNow();
  assert.deepEqual(first.awg.awg, persisted);
  assert.ok(first.awg.peers.has(dev.publicKey));
  await first.agent.stop();

  // A restart keeps the parameters and the key: no new draw, no door change, the same catalog.
  const version = (await catalogOf(cp)).version;
  const second = await start();
  assert.equal(drawn, 1, 'drawn once');
  assert.deepEqual(second.awg.awg, persisted);
  assert.equal((await catalogOf(cp)).version, version);
  assert.equal((await cp.ctx.db.query("SELECT 1 FROM audit_log WHERE action = 'gateway.doors_changed'")).rows.length, 0);
});

test('a fresh two-lane gateway takes its snapshot onto both lanes: devices enrolled before it started are on both interfaces at their offsets', async () => {
  const cp = await startFeedControlPlane();
  cleanups.push(() => cp.stop());
  // Devices placed on a one-lane gateway of the region, before the two-lane gateway exists: only its snapshot brings them.
  await startAgent(cp, { token: await newToken(cp), secondLane: false });
  const pass = await invite(cp, 3);
  const devs = [await enroll(cp.url, pass), await enroll(cp.url, pass), await enroll(cp.url, pass)];
  const h = await startAgent(cp, { token: await newToken(cp), secondLane: true });
  await until('every device on both lanes of the fresh gateway', () => devs.every((x) => h.lane0.peers.has(x.publicKey) && h.lane2!.peers.has(x.publicKey)) || undefined);
  for (const d of devs) {
    const offset = Number(d.body.addresses.ipv4.split('.')[3]) + 256 * Number(d.body.addresses.ipv4.split('.')[2]);
    assert.deepEqual(h.lane2!.peers.get(d.publicKey)!.allowedIps.sort(), [`10.68.${Math.floor(offset / 256)}.${offset % 256}/32`, `fd0d:a44d:66:2::${offset.toString(16)}/128`].sort());
  }
});
