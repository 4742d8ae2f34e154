/**
 * End to end with real packets. The test builds three network namespaces:
 *
 *   [cp]  damm serve (its own process)          10.200.1.1 ─┐
 *                                                            │ veth ("the internet")
 *   [gw]  wireguard-go + damm gateway run --nat  10.200.1.2 ─┘  egress address
 *                                                10.200.2.1 ─┐  WireGuard endpoint
 *                                                            │ veth (the client's network)
 *   [cl]  wireguard-go configured by `wg` from    10.200.2.2 ─┘
 *         the exact .conf DAMM renders
 *
 * plus a veth from the test's own namespace into [cp] (the operator's and
 * the enrolling browser's path) and a TCP relay to the test's Postgres.
 * After every scenario `wg show` on the gateway must equal the active
 * devices. The gateway also answers on --alt-port 443 (nftables redirect to
 * 51820); the last test blocks UDP/51820 on the client and uses that door.
 * Everything is torn down at the end, also on failure (the netns
 * kit's after() and an exit hook kill what the test started). Set
 * DAMM_E2E_LOGS=<file> to keep the child processes' logs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { NetnsKit, type WireguardGoHandle } from '../helpers/netns.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';
import { renderClientConfig } from '../../src/core/wg-config.js';
import { admissionRecordFor, signRecord } from '../../src/core/admission.js';
import { generateSigningKey } from '../../src/core/envelope.js';
import { loadKeyRing } from '../../src/control-plane/keyring.js';
import { insertFeedEvents } from '../../src/store/feed.js';
import { verifyCatalog } from '../../src/core/catalog.js';
import { trustRoot } from '../../src/core/trust/root.js';
import { redirectTable } from '../../src/gateway/agent/host.js';
import { activeLines, clientUpFromConf, damm, peerLines, pgRelay, ping, rootVeth, sleep, whoamiFrom, wgShow, type Proc } from './kit.js';
import { until } from '../gateway/kit.js';

const CP_PORT = 8080;
const GW_EGRESS = '10.200.1.2';
const GW_ENDPOINT = '10.200.2.1';
const GW_TUNNEL = '10.66.0.1';
const ALT_PORT = 443;

let kit: NetnsKit;
let database: TestDatabase;
let relay: { port: number; close(): Promise<void> };
let ns: { cp: string; gw: string; cl: string };
let cpUrl: string; // as the test (operator, enrolling browser) reaches it
let cpDataDir: string;
let cpDbUrl: string; // the control plane's view of the test database (through the relay)
let gwState: string;
let cp: Proc;
let agent: Proc;
let gwWg: WireguardGoHandle;
let clWg: WireguardGoHandle;
let operatorToken: string;
let invitePass: string;
const tmpDirs: string[] = [];

async function op(method: string, p: string, body?: unknown): Promise<any> {
  const res = await fetch(`${cpUrl}${p}`, {
    method,
    headers: { authorization: `Bearer ${operatorToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function enrollDevice(): Promise<{ deviceId: string; privateKey: string; publicKey: string; body: any }> {
  const kp = wgKeyPair(); // X25519, the way the browser makes it
  const res = await fetch(`${cpUrl}/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ installPass: invitePass, publicKey: kp.publicKey, region: 'NL' }),
  });
  const body = (await res.json()) as any;
  if (res.status !== 201) throw new Error(`enroll: ${res.status} ${JSON.stringify(body)}`);
  return { deviceId: body.deviceId, ...kp, body };
}

function startAgent(token?: string): Proc {
  return damm(
    ns.gw,
    ['gateway', 'run', '--control-plane', `http://10.200.1.1:${CP_PORT}`, '--interface', gwWg.ifname, '--listen-port', '51820',
      '--alt-port', String(ALT_PORT), '--endpoint', `${GW_ENDPOINT}:51820`, '--egress-ip', GW_EGRESS, '--state-dir', gwState, '--backend', 'uapi', '--nat',
      '--reconcile-interval', '2', '--heartbeat-interval', '2', '--log-level', 'debug'],
    // Pinned to the offline root, the way production gateways run (docs/gateway.md).
    { DAMM_ROOT_SHA256: rootPin, ...(token ? { DAMM_GATEWAY_TOKEN: token } : {}) },
  );
}

async function startControlPlane(dbUrl: string): Promise<Proc> {
  const p = damm(ns.cp, ['serve', '--data-dir', cpDataDir, '--host', '0.0.0.0', '--port', String(CP_PORT)], { DATABASE_URL: dbUrl, DAMM_LOG_LEVEL: process.env.DAMM_E2E_CP_LOG ?? 'warn' });
  await p.waitFor(/listening on/, 60_000);
  return p;
}

/** `wg show` on the gateway equals the active devices (keys and exact addresses). */
async function gatewayMatchesActive(what: string, timeoutMs = 20_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let have: string[] = [];
  let want: string[] = [];
  while (Date.now() < deadline) {
    have = peerLines(await wgShow(kit, ns.gw, gwWg.ifname));
    want = await activeLines(database.db);
    if (JSON.stringify(have) === JSON.stringify(want)) return have;
    await sleep(100);
  }
  const missing = want.filter((l) => !have.includes(l));
  const extra = have.filter((l) => !want.includes(l));
  assert.fail(`${what}: wg show differs from the active devices: ${missing.length} missing, ${extra.length} extra (${JSON.stringify({ missing: missing.slice(0, 3), extra: extra.slice(0, 3) })})`);
}

/** The client's WireGuard from the exact .conf text (kit.ts). */
const clientUp = (conf: string) => clientUpFromConf(kit, ns.cl, clWg.ifname, conf);

async function whoamiThroughTunnel(deviceId: string): Promise<any> {
  return whoamiFrom(kit, ns.cl, `http://10.200.1.1:${CP_PORT}/v1/whoami?device=${deviceId}`);
}

let current: Awaited<ReturnType<typeof enrollDevice>>;
let rootPin = '';

before(async () => {
  kit = new NetnsKit(); // throws, never skips, when root, wireguard-go, wg or ping is missing
  database = await createTestDatabase();
  ns = { cp: await kit.namespace(), gw: await kit.namespace(), cl: await kit.namespace() };
  await kit.veth(ns.cp, '10.200.1.1/24', ns.gw, `${GW_EGRESS}/24`);
  await kit.veth(ns.gw, `${GW_ENDPOINT}/24`, ns.cl, '10.200.2.2/24');
  const v = await rootVeth(ns.cp);
  const dbUrl = new URL(database.url);
  relay = await pgRelay(v.root, { host: dbUrl.hostname, port: Number(dbUrl.port || 5432) });
  dbUrl.hostname = v.root;
  dbUrl.port = String(relay.port);
  cpDataDir = await mkdtemp(path.join(tmpdir(), 'damm-e2e-cp-'));
  gwState = await mkdtemp(path.join(tmpdir(), 'damm-e2e-gw-'));
  tmpDirs.push(cpDataDir, gwState);
  cpDbUrl = dbUrl.toString();
  cp = await startControlPlane(cpDbUrl);
  cpUrl = `http://${v.inner}:${CP_PORT}`;
  operatorToken = (await readFile(path.join(cpDataDir, 'operator-token'), 'utf8')).trim();
  // The pin comes out of band (what `damm init` prints): the sha256 of root v1's payload.
  const rootV1 = JSON.parse(await readFile(path.join(cpDataDir, 'offline-root', 'root-1.json'), 'utf8')) as { payload: string };
  rootPin = createHash('sha256').update(Buffer.from(rootV1.payload, 'base64')).digest('hex');
  const gw = await op('POST', '/v1/operator/gateways', { region: 'NL', country: 'NL' });
  invitePass = (await op('POST', '/v1/operator/invites', { uses: 10_000 })).token;
  gwWg = await kit.startWireguardGo(ns.gw);
  clWg = await kit.startWireguardGo(ns.cl);
  agent = startAgent(gw.registrationToken);
  await agent.waitFor(/gateway agent running/, 60_000);
  assert.ok(agent.lines.some((l) => l.includes('trusting the pinned root')), 'the agent runs pinned to root v1');
  assert.ok(!agent.lines.some((l) => l.includes('NO ROOT PIN')));
});

after(async () => {
  if (process.env.DAMM_E2E_LOGS) {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(process.env.DAMM_E2E_LOGS, `--- control plane\n${cp?.lines.join('\n')}\n--- agent\n${agent?.lines.join('\n')}\n`);
  }
  const t0 = Date.now();
  const step = (what: string) => process.env.DAMM_E2E_LOGS && console.log(`after: ${what} at ${Date.now() - t0} ms`);
  await agent?.kill('SIGKILL');
  step('agent');
  await cp?.kill('SIGKILL');
  step('cp');
  await relay?.close();
  step('relay');
  await database?.close();
  step('db');
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
  await kit?.cleanup();
  step('kit');
});

test('a device enrolled with a browser-made key, configured from the exact .conf, pings the gateway and whoami sees it through the tunnel', async () => {
  current = await enrollDevice();
  const e = current.body;
  assert.equal(e.frontDoor.endpoint, `${GW_ENDPOINT}:51820`);
  const conf = renderClientConfig({
    privateKey: current.privateKey,
    addresses: e.addresses,
    dns: e.dns,
    peerPublicKey: e.frontDoor.publicKey,
    endpoint: e.frontDoor.endpoint,
    allowedIps: e.allowedIps,
    persistentKeepalive: e.persistentKeepalive,
  });
  assert.match(conf, new RegExp(`PublicKey = ${e.frontDoor.publicKey.replace(/[+/]/g, '\\$&')}`));
  await gatewayMatchesActive('after enrollment');
  await clientUp(conf);
  assert.ok(await ping(kit, ns.cl, GW_TUNNEL, 10), 'the gateway answers on its tunnel address');
  const who = await whoamiThroughTunnel(current.deviceId);
  assert.equal(who.viaDamm, true, JSON.stringify(who));
  assert.equal(who.ip, GW_EGRESS, 'traffic leaves from the gateway\'s registered egress address');
  assert.equal(who.device.id, current.deviceId);
  assert.equal(who.device.onThisGateway, true);
  assert.equal(who.device.state, 'active');
  // the agent reports bytes: usage becomes visible through whoami
  const deadline = Date.now() + 15_000;
  let bytes = 0;
  while (Date.now() < deadline && bytes === 0) {
    await sleep(500);
    bytes = (await whoamiThroughTunnel(current.deviceId)).device.usage.bytes;
  }
  assert.ok(bytes > 0, 'heartbeats carried this device\'s byte counters');
});

test('revoking the device stops its packets', async () => {
  await op('POST', `/v1/operator/devices/${current.deviceId}/revoke`, { reason: 'e2e' });
  await gatewayMatchesActive('after revocation');
  assert.equal(await ping(kit, ns.cl, GW_TUNNEL, 2), false, 'no packets pass for a revoked device');
  // a new device on the same client gets through again
  current = await enrollDevice();
  const e = current.body;
  await gatewayMatchesActive('after re-enrollment');
  await clientUp(renderClientConfig({ privateKey: current.privateKey, addresses: e.addresses, dns: e.dns, peerPublicKey: e.frontDoor.publicKey, endpoint: e.frontDoor.endpoint, allowedIps: e.allowedIps, persistentKeepalive: e.persistentKeepalive }));
  assert.ok(await ping(kit, ns.cl, GW_TUNNEL, 10));
});

test('a forged or out-of-scope admission record injected into the feed never reaches the interface', async () => {
  const now = new Date();
  const forged = wgKeyPair().publicKey;
  const outOfScope = wgKeyPair().publicKey;
  const keys = await loadKeyRing(cpDataDir, { create: false, now });
  const rec = (publicKey: string, scope: string, n: number) => {
    const id = randomUUID();
    return { id, rec: admissionRecordFor({ id, publicKey, ipv4: `10.66.254.${n}`, ipv6: `fd0d:a44d:66::fe${n}`, scope }, now) };
  };
  const a = rec(forged, 'region:NL', 1);
  const b = rec(outOfScope, 'region:DE', 2);
  await insertFeedEvents(database.db, [
    { scope: 'region:NL', deviceId: a.id, kind: 'upsert', envelope: signRecord(a.rec, [generateSigningKey()]) },
    { scope: 'region:NL', deviceId: b.id, kind: 'upsert', envelope: signRecord(b.rec, keys.signers('admission')) },
  ]);
  const refused = async () => agent.json().filter((l) => l.msg === 'admission record refused; not applied' && (l.deviceId === a.id || l.deviceId === b.id));
  const deadline = Date.now() + 15_000;
  while ((await refused()).length < 2 && Date.now() < deadline) await sleep(100);
  assert.deepEqual((await refused()).map((l) => l.reason).sort(), ['bad_signature', 'wrong_scope']);
  await sleep(2500); // and a drift repair later
  const peers = (await wgShow(kit, ns.gw, gwWg.ifname)).map((p) => p.publicKey);
  assert.ok(!peers.includes(forged) && !peers.includes(outOfScope));
  await gatewayMatchesActive('after injection');
});

test('restarting the agent (and wireguard-go, which forgets everything) brings every peer back', async () => {
  for (let i = 0; i < 20; i++) await enrollDevice();
  await gatewayMatchesActive('before restart');
  await agent.kill('SIGKILL');
  const ifname = gwWg.ifname;
  await kit.stopWireguardGo(gwWg);
  gwWg = await kit.startWireguardGo(ns.gw, ifname);
  assert.equal((await wgShow(kit, ns.gw, ifname)).length, 0, 'the fresh daemon holds nothing');
  agent = startAgent();
  await agent.waitFor(/gateway agent running/, 60_000);
  await gatewayMatchesActive('after agent restart');
  // The client still holds a session with the old daemon; WireGuard re-handshakes after ~15 s without answers.
  assert.ok(await ping(kit, ns.cl, GW_TUNNEL, 30), 'the client\'s tunnel works again');
});

test('killing the agent in the middle of a burst and restarting it converges to exactly the desired set', async () => {
  const activeCount = async () => Number((await database.db.query("SELECT count(*) AS n FROM devices WHERE state = 'active'")).rows[0].n);
  const already = await activeCount();
  const burst = Promise.all(Array.from({ length: 300 }, () => enrollDevice()));
  // Kill it mid-burst for certain: once some enrollments landed, not after a fixed delay
  // (on a loaded machine 150 ms could pass before the first one).
  await until('30 enrollments of the burst to land', async () => (await activeCount()) >= already + 30 || undefined, 60_000, 10);
  await agent.kill('SIGKILL');
  await burst;
  const revoked = (await database.db.query("SELECT id FROM devices WHERE state = 'active' ORDER BY created_at DESC LIMIT 5")).rows;
  for (const r of revoked) await op('POST', `/v1/operator/devices/${r.id}/revoke`, {});
  agent = startAgent();
  await agent.waitFor(/gateway agent running/, 60_000);
  await gatewayMatchesActive('after the burst and the restart', 30_000);
});

test('with the control plane stopped, existing tunnels keep passing packets', async () => {
  await cp.kill('SIGTERM');
  assert.ok(await ping(kit, ns.cl, GW_TUNNEL, 3));
  await agent.waitFor(/unreachable/, 30_000);
  await sleep(4500); // two drift repairs and heartbeats without a control plane
  assert.ok(await ping(kit, ns.cl, GW_TUNNEL, 3), 'still passing packets');
  await gatewayMatchesActive('with the control plane down');
  // and it catches up when the control plane returns
  cp = await startControlPlane(cpDbUrl);
  const late = await enrollDevice();
  await gatewayMatchesActive('after the control plane returned');
  assert.ok((await wgShow(kit, ns.gw, gwWg.ifname)).some((p) => p.publicKey === late.publicKey));
});

test('--alt-port 443: a second T0 door in the signed catalog that still works when UDP/51820 is blocked; a clean stop removes its nft table', async () => {
  const nftTable = redirectTable(gwWg.ifname);
  // The agent was SIGKILLed and restarted twice above: its table was replaced, not added to.
  const listed = await kit.exec(ns.gw, ['nft', 'list', 'table', 'inet', nftTable]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.equal(listed.stdout.match(/redirect to :51820/g)?.length, 1, listed.stdout);
  assert.match(listed.stdout, /udp dport 443 redirect to :51820/);

  // The catalog, verified against root v1 as clients and the wizard do, lists a door per port.
  const root = trustRoot(await (await fetch(`${cpUrl}/v1/trust/root/1.json`)).json(), { pinnedSha256: rootPin });
  const { catalog } = verifyCatalog(await (await fetch(`${cpUrl}/v1/catalog`)).json(), root, { now: new Date() });
  const blocked = await enrollDevice();
  const gatewayId = blocked.body.frontDoor.gatewayId as string;
  const doors = catalog.frontDoors.filter((d) => d.gatewayId === gatewayId);
  assert.deepEqual(doors.map((d) => [d.id, d.tier, d.endpoint]).sort(), [
    [`${gatewayId}/T0/443`, 'T0', `${GW_ENDPOINT}:443`],
    [`${gatewayId}/T0/51820`, 'T0', `${GW_ENDPOINT}:51820`],
  ]);
  const door = (port: number) => doors.find((d) => d.endpoint === `${GW_ENDPOINT}:${port}`)!;
  const confFor = (dev: Awaited<ReturnType<typeof enrollDevice>>, d: (typeof doors)[number]) =>
    renderClientConfig({ privateKey: dev.privateKey, addresses: dev.body.addresses, dns: dev.body.dns, peerPublicKey: d.publicKey, endpoint: d.endpoint, allowedIps: dev.body.allowedIps, persistentKeepalive: dev.body.persistentKeepalive });

  // The client's network drops UDP to port 51820 (counted, so the test sees the attempts die there).
  const block = 'e2e_block';
  for (const args of [
    ['add', 'table', 'inet', block],
    ['add', 'chain', 'inet', block, 'output', '{', 'type', 'filter', 'hook', 'output', 'priority', '0', ';', 'policy', 'accept', ';', '}'],
    ['add', 'rule', 'inet', block, 'output', 'udp', 'dport', '51820', 'counter', 'drop'],
  ]) {
    const r = await kit.exec(ns.cl, ['nft', ...args]);
    assert.equal(r.code, 0, r.stderr);
  }
  try {
    await gatewayMatchesActive('before the blocked-port tries');
    await clientUp(confFor(blocked, door(51820)));
    assert.equal(await ping(kit, ns.cl, GW_TUNNEL, 3), false, 'the :51820 door does not work with UDP/51820 dropped');
    const counted = await kit.exec(ns.cl, ['nft', 'list', 'table', 'inet', block]);
    assert.match(counted.stdout, /counter packets [1-9]\d* bytes/, 'the handshakes to :51820 died at the drop rule');

    const through = await enrollDevice();
    await gatewayMatchesActive('after enrolling the alternate-port device');
    await clientUp(confFor(through, door(ALT_PORT)));
    assert.ok(await ping(kit, ns.cl, GW_TUNNEL, 10), 'the :443 door carries pings with UDP/51820 dropped');
    const who = await whoamiThroughTunnel(through.deviceId);
    assert.equal(who.viaDamm, true, JSON.stringify(who));
    assert.equal(who.device.id, through.deviceId);
    // WireGuard roams to the source of authenticated replies: still :443 means conntrack answered from the port dialled.
    const endpoints = await kit.exec(ns.cl, ['wg', 'show', clWg.ifname, 'endpoints']);
    assert.match(endpoints.stdout, new RegExp(`\\t${GW_ENDPOINT.replace(/\./g, '\\.')}:${ALT_PORT}\\s*$`), endpoints.stdout);
  } finally {
    await kit.exec(ns.cl, ['nft', 'delete', 'table', 'inet', block]);
  }

  // A clean stop (SIGTERM, as systemd stops it) leaves no rule behind.
  await agent.kill('SIGTERM');
  assert.equal(await agent.exited, 0);
  const tables = await kit.exec(ns.gw, ['nft', 'list', 'tables']);
  assert.equal(tables.code, 0, tables.stderr);
  assert.doesNotMatch(tables.stdout, new RegExp(nftTable), tables.stdout);
});
