/**
 * A three-lane gateway end to end, with real packets. Namespaces (tagged "dr"):
 *
 *   [cp]  damm serve                                   10.200.1.1 ─┐
 *                                                                   │ veth
 *   [gw]  one `damm gateway run --nat --awg-port 51821 10.200.1.2 ─┘  egress
 *         --wg-lane-port 51822` driving
 *           lane 0: wireguard-go  :51820, 10.66.0.0/16 10.200.2.1 ─┐  endpoint
 *           lane 1: amneziawg-go  :51821, 10.67.0.0/16              │ veth
 *           lane 2: wireguard-go  :51822, 10.68.0.0/16              │
 *   [cl]  wireguard-go configured by `wg`, and         10.200.2.2 ─┘
 *         amneziawg-go configured over its UAPI, each from the exact .conf
 *         DAMM renders for the door (parsed as the AmneziaWG apps parse it)
 *
 * One enrollment; the answer names the three doors, bound to the verified
 * catalog (core/door-binding.ts); a client through each door pings that
 * lane's gateway address and whoami says through DAMM; each interface holds
 * every active device at its lane's address; the device's bytes on the three
 * lanes add up in its usage; revocation takes the peer off every interface;
 * each lane's health reaches `GET /v1/operator/gateways`. Everything the test
 * starts dies with it (the netns kit's after() and exit hook).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { AMNEZIAWG_GO, NetnsKit, type WireguardGoHandle } from '../helpers/netns.js';
import { parseAwgConf } from '../helpers/awg-conf.js';
import { AMNEZIAWG_UAPI_SOCKET_DIR, DEFAULT_UAPI_SOCKET_DIR, UapiBackend, UapiClient } from '../../src/gateway/wireguard/uapi.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';
import { renderDoorConfig } from '../../src/core/door-config.js';
import { bindEnrolledDoors, type BoundDoor } from '../../src/core/door-binding.js';
import { verifyCatalog } from '../../src/core/catalog.js';
import { trustRoot } from '../../src/core/trust/root.js';
import { lanePools, mapToLane, parsePools } from '../../src/core/ipam.js';
import { activeLines, damm, pgRelay, ping, rootVeth, type Proc } from './kit.js';
import { until } from '../helpers/wait.js';

const CP_PORT = 8080;
const GW_EGRESS = '10.200.1.2';
const GW_ENDPOINT = '10.200.2.1';
const AWG_PORT = 51821;
const LANE2_PORT = 51822;
const BASE_POOLS = { ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd0d:a44d:66::/64' };

let kit: NetnsKit;
let database: TestDatabase;
let relay: { port: number; close(): Promise<void> };
let ns: { cp: string; gw: string; cl: string };
let cpUrl: string;
let cpDataDir: string;
let gwState: string;
let cp: Proc;
let agent: Proc;
let gw0: WireguardGoHandle;
let gw1: WireguardGoHandle; // amneziawg-go
let gw2: WireguardGoHandle;
let cl: WireguardGoHandle;
let clAwg: WireguardGoHandle; // amneziawg-go
/** The test's read-back of each gateway interface, over its UAPI socket (the `wg` tool knows no amneziawg-go socket). */
const readers = new Map<number, UapiBackend>();
let operatorToken: string;
let invitePass: string;
let rootPin = '';
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
  const kp = wgKeyPair();
  const res = await fetch(`${cpUrl}/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ installPass: invitePass, publicKey: kp.publicKey, region: 'NL' }),
  });
  const body = (await res.json()) as any;
  if (res.status !== 201) throw new Error(`enroll: ${res.status} ${JSON.stringify(body)}`);
  return { deviceId: body.deviceId, ...kp, body };
}

/** The catalog as clients and the wizard see it: verified against root v1, pinned by its hash. */
async function verifiedDoors() {
  const root = trustRoot(await (await fetch(`${cpUrl}/v1/trust/root/1.json`)).json(), { pinnedSha256: rootPin });
  return verifyCatalog(await (await fetch(`${cpUrl}/v1/catalog`)).json(), root, { now: new Date() }).catalog.frontDoors;
}

/** Lane `lane`'s expected `wg show` lines: every active device at the same offset in that lane's prefixes. */
async function activeLinesInLane(lane: number): Promise<string[]> {
  const from = parsePools(BASE_POOLS);
  const to = parsePools(lanePools(BASE_POOLS, lane));
  return (await activeLines(database.db))
    .map((l) => {
      const [key, prefixes] = l.split(' ');
      return `${key} ${mapToLane(from, to, prefixes!.split(',')).sort().join(',')}`;
    })
    .sort();
}

/** Lane `lane`'s interface as its daemon reports it: "key prefixes" per peer, sorted. */
async function lanePeers(lane: number) {
  return (await readers.get(lane)!.listPeers()).peers;
}

async function laneMatchesActive(lane: number, what: string): Promise<void> {
  let have: string[] = [];
  let want: string[] = [];
  await until(
    `${what}: lane ${lane}'s interface equals the active devices`,
    async () => {
      have = (await lanePeers(lane)).map((p) => `${p.publicKey} ${[...p.allowedIps].sort().join(',')}`).sort();
      want = await activeLinesInLane(lane);
      return JSON.stringify(have) === JSON.stringify(want) || undefined;
    },
    20_000,
    100,
  ).catch(() => assert.fail(`${what}: lane ${lane} differs: ${JSON.stringify({ have: have.slice(0, 3), want: want.slice(0, 3) })}`));
}

/** Routes everything through `ifname`, with the .conf's addresses (and MTU): wg-quick's part. */
async function addressAndRoute(ifname: string, addresses: string[], mtu?: number): Promise<void> {
  for (const c of [cl, clAwg]) await kit.exec(ns.cl, ['ip', 'address', 'flush', 'dev', c.ifname]);
  for (const a of addresses) assert.equal((await kit.exec(ns.cl, ['ip', 'address', 'add', a, 'dev', ifname])).code, 0);
  if (mtu !== undefined) assert.equal((await kit.exec(ns.cl, ['ip', 'link', 'set', 'dev', ifname, 'mtu', String(mtu)])).code, 0);
  assert.equal((await kit.exec(ns.cl, ['ip', 'link', 'set', 'dev', ifname, 'up'])).code, 0);
  assert.equal((await kit.exec(ns.cl, ['ip', 'route', 'replace', 'default', 'dev', ifname])).code, 0);
}

/** The client for a door, from the exact .conf text DAMM renders for it. */
async function clientUp(b: BoundDoor, conf: string): Promise<void> {
  if (b.door.protocol === 'amneziawg') {
    // As the AmneziaWG apps and awg-quick read it (a key they do not know fails here as there).
    const parsed = parseAwgConf(conf);
    assert.equal(await new UapiClient({ socketPath: clAwg.socketPath }).set(parsed.uapi), 0);
    await addressAndRoute(clAwg.ifname, parsed.addresses, parsed.mtu);
    return;
  }
  await wgClientUp(conf);
}

/** Brings the WireGuard client's interface up from the .conf text (wg setconf + ip): the same steps wg-quick takes. */
async function wgClientUp(conf: string): Promise<void> {
  const addresses: string[] = [];
  const wgLines: string[] = [];
  for (const line of conf.split('\n')) {
    const m = /^(\w+)\s*=\s*(.*)$/.exec(line);
    if (m && m[1] === 'Address') addresses.push(...m[2]!.split(',').map((s) => s.trim()));
    else if (m && m[1] === 'DNS') continue;
    else wgLines.push(line);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'damm-dr-conf-'));
  const file = path.join(dir, 'client.conf');
  await writeFile(file, wgLines.join('\n'), { mode: 0o600 });
  const setconf = await kit.exec(ns.cl, ['wg', 'setconf', cl.ifname, file]);
  await rm(dir, { recursive: true, force: true });
  assert.equal(setconf.code, 0, setconf.stderr);
  await addressAndRoute(cl.ifname, addresses);
}

async function whoamiThroughTunnel(deviceId: string): Promise<any> {
  const url = `http://10.200.1.1:${CP_PORT}/v1/whoami?device=${deviceId}`;
  const r = await kit.exec(ns.cl, [process.execPath, '-e', 'fetch(process.argv[1]).then(async (r) => process.stdout.write(await r.text()))', url], { timeoutMs: 15_000 });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** rx + tx of one peer on one lane's interface. */
async function peerBytes(lane: number, publicKey: string): Promise<number> {
  const p = (await lanePeers(lane)).find((x) => x.publicKey === publicKey);
  return p ? Number(p.rxBytes + p.txBytes) : 0;
}

before(async () => {
  kit = new NetnsKit(); // throws, never skips, when root, wireguard-go, wg or ping is missing
  database = await createTestDatabase();
  ns = { cp: await kit.namespace('dr'), gw: await kit.namespace('dr'), cl: await kit.namespace('dr') };
  await kit.veth(ns.cp, '10.200.1.1/24', ns.gw, `${GW_EGRESS}/24`);
  await kit.veth(ns.gw, `${GW_ENDPOINT}/24`, ns.cl, '10.200.2.2/24');
  const v = await rootVeth(ns.cp);
  const dbUrl = new URL(database.url);
  relay = await pgRelay(v.root, { host: dbUrl.hostname, port: Number(dbUrl.port || 5432) });
  dbUrl.hostname = v.root;
  dbUrl.port = String(relay.port);
  cpDataDir = await mkdtemp(path.join(tmpdir(), 'damm-dr-cp-'));
  gwState = await mkdtemp(path.join(tmpdir(), 'damm-dr-gw-'));
  tmpDirs.push(cpDataDir, gwState);
  cp = damm(ns.cp, ['serve', '--data-dir', cpDataDir, '--host', '0.0.0.0', '--port', String(CP_PORT)], { DATABASE_URL: dbUrl.toString(), DAMM_LOG_LEVEL: 'warn' });
  await cp.waitFor(/listening on/, 60_000);
  cpUrl = `http://${v.inner}:${CP_PORT}`;
  operatorToken = (await readFile(path.join(cpDataDir, 'operator-token'), 'utf8')).trim();
  const rootV1 = JSON.parse(await readFile(path.join(cpDataDir, 'offline-root', 'root-1.json'), 'utf8')) as { payload: string };
  rootPin = createHash('sha256').update(Buffer.from(rootV1.payload, 'base64')).digest('hex');
  const gw = await op('POST', '/v1/operator/gateways', { region: 'NL', country: 'NL' });
  invitePass = (await op('POST', '/v1/operator/invites', { uses: 100 })).token;
  gw0 = await kit.startWireguardGo(ns.gw);
  gw1 = await kit.startWireguardGo(ns.gw, undefined, AMNEZIAWG_GO);
  gw2 = await kit.startWireguardGo(ns.gw);
  cl = await kit.startWireguardGo(ns.cl);
  clAwg = await kit.startWireguardGo(ns.cl, undefined, AMNEZIAWG_GO);
  readers.set(0, new UapiBackend({ interfaceName: gw0.ifname, socketDir: DEFAULT_UAPI_SOCKET_DIR }));
  readers.set(1, new UapiBackend({ interfaceName: gw1.ifname, socketDir: AMNEZIAWG_UAPI_SOCKET_DIR }));
  readers.set(2, new UapiBackend({ interfaceName: gw2.ifname, socketDir: DEFAULT_UAPI_SOCKET_DIR }));
  const t0 = Date.now();
  agent = startAgent(gw.registrationToken);
  await agent.waitFor(/gateway agent running/, 60_000);
  console.log(`# three-lane gateway, first start (process start, register 3 lanes, draw AmneziaWG params, configure 3 interfaces): ${Date.now() - t0} ms`);
});

function startAgent(token?: string): Proc {
  return damm(
    ns.gw,
    ['gateway', 'run', '--control-plane', `http://10.200.1.1:${CP_PORT}`, '--interface', gw0.ifname, '--listen-port', '51820',
      '--awg-port', String(AWG_PORT), '--awg-interface', gw1.ifname, '--awg-socket-dir', AMNEZIAWG_UAPI_SOCKET_DIR,
      '--wg-lane-port', String(LANE2_PORT), '--wg-lane-interface', gw2.ifname,
      '--endpoint', `${GW_ENDPOINT}:51820`, '--egress-ip', GW_EGRESS, '--state-dir', gwState, '--backend', 'uapi', '--nat',
      '--reconcile-interval', '2', '--heartbeat-interval', '2', '--log-level', 'debug'],
    { DAMM_ROOT_SHA256: rootPin, ...(token ? { DAMM_GATEWAY_TOKEN: token } : {}) },
  );
}

after(async () => {
  if (process.env.DAMM_E2E_LOGS) await writeFile(process.env.DAMM_E2E_LOGS, `--- control plane\n${cp?.lines.join('\n')}\n--- agent\n${agent?.lines.join('\n')}\n`);
  for (const r of readers.values()) await r.close();
  await agent?.kill('SIGKILL');
  await cp?.kill('SIGKILL');
  await relay?.close();
  await database?.close();
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
  await kit?.cleanup();
});

let device: Awaited<ReturnType<typeof enrollDevice>>;
let bound: BoundDoor[];

const LANES: ReadonlyArray<{ lane: number; gatewayAddress: string }> = [
  { lane: 0, gatewayAddress: '10.66.0.1' },
  { lane: 1, gatewayAddress: '10.67.0.1' },
  { lane: 2, gatewayAddress: '10.68.0.1' },
];

test('one enrollment, three doors (WireGuard, AmneziaWG, WireGuard): a client through each pings that lane and whoami says through DAMM', async () => {
  device = await enrollDevice();
  const doors = await verifiedDoors();
  bound = bindEnrolledDoors(device.body, doors);
  const gatewayId = device.body.frontDoor.gatewayId as string;
  assert.deepEqual(
    bound.map((b) => [b.door.id, b.door.protocol, b.door.endpoint, b.door.tunnel.ipv4Cidr]),
    [
      [`${gatewayId}/T0/51820`, 'wireguard', `${GW_ENDPOINT}:51820`, '10.66.0.0/16'],
      [`${gatewayId}/T1/${AWG_PORT}`, 'amneziawg', `${GW_ENDPOINT}:${AWG_PORT}`, '10.67.0.0/16'],
      [`${gatewayId}/T0/${LANE2_PORT}`, 'wireguard', `${GW_ENDPOINT}:${LANE2_PORT}`, '10.68.0.0/16'],
    ],
  );
  assert.equal(new Set(bound.map((b) => b.door.publicKey)).size, 3, 'each interface its own key');
  assert.deepEqual(bound.map((b) => b.addresses.ipv4.split('.').slice(2).join('.')), Array(3).fill(device.body.addresses.ipv4.split('.').slice(2).join('.')), 'the same offset on every lane');
  // The gateway's amneziawg-go runs exactly the signed parameters.
  assert.deepEqual((await readers.get(1)!.listPeers()).awg, bound[1]!.door.params);

  for (const { lane } of LANES) await laneMatchesActive(lane, 'after enrollment');
  for (const [i, { gatewayAddress }] of LANES.entries()) {
    const b = bound[i]!;
    const conf = renderDoorConfig(b.door, { privateKey: device.privateKey, addresses: b.addresses, dns: device.body.dns, allowedIps: device.body.allowedIps, persistentKeepalive: device.body.persistentKeepalive });
    if (b.door.protocol === 'amneziawg') assert.match(conf, /^Jc = \d+$/m);
    await clientUp(b, conf);
    assert.ok(await ping(kit, ns.cl, gatewayAddress, 10), `door ${b.door.id}: the gateway answers on ${gatewayAddress}`);
    const who = await whoamiThroughTunnel(device.deviceId);
    assert.equal(who.viaDamm, true, `door ${b.door.id}: ${JSON.stringify(who)}`);
    assert.equal(who.ip, GW_EGRESS);
    assert.equal(who.device.id, device.deviceId);
  }
  // Each lane's health, as the agent's heartbeat reported it.
  await until('every lane reported up and listening with one peer', async () => {
    const g = (await op('GET', '/v1/operator/gateways')).gateways.find((x: any) => x.id === gatewayId);
    const h = g.doors.map((d: any) => [d.lane, d.protocol, d.health?.up, d.health?.listening, d.health?.peers]);
    return JSON.stringify(h) === JSON.stringify([[0, 'wireguard', true, true, 1], [1, 'amneziawg', true, true, 1], [2, 'wireguard', true, true, 1]]) || undefined;
  }, 15_000, 200);
});

test("metering: the device's usage is its bytes on the three interfaces added up", async () => {
  // Freeze the counters: the clients forget the gateway, so nothing more is sent (no keepalives either).
  for (const c of [cl, clAwg]) assert.equal(await new UapiClient({ socketPath: c.socketPath }).set(['replace_peers=true']), 0);
  const bytes = await Promise.all(LANES.map(({ lane }) => peerBytes(lane, device.publicKey)));
  assert.ok(bytes.every((b) => b > 0), `traffic on every lane (${bytes.join(', ')})`);
  const total = bytes.reduce((a, b) => a + b, 0);
  let seen = -1;
  await until(
    `usage = ${bytes.join(' + ')}`,
    async () => {
      seen = await usageBytes(device.deviceId);
      return seen === total || undefined;
    },
    20_000,
    250,
  ).catch(() => assert.fail(`usage ${seen} is not ${bytes.join(' + ')} (lanes 0, 1, 2)`));
});

/** whoami's usage for a device, asked from the test's side (the client's tunnel is down now). */
async function usageBytes(deviceId: string): Promise<number> {
  const r = (await (await fetch(`${cpUrl}/v1/whoami?device=${deviceId}`)).json()) as any;
  return r.device.usage.bytes;
}

test('revoking the device takes its peer off every interface; no door passes its packets', async () => {
  await op('POST', `/v1/operator/devices/${device.deviceId}/revoke`, { reason: 'e2e doors' });
  for (const { lane } of LANES) {
    await laneMatchesActive(lane, 'after revocation');
    assert.ok(!(await lanePeers(lane)).some((p) => p.publicKey === device.publicKey), `lane ${lane} no longer holds the peer`);
  }
  for (const [i, { gatewayAddress }] of LANES.entries()) {
    const b = bound[i]!;
    await clientUp(b, renderDoorConfig(b.door, { privateKey: device.privateKey, addresses: b.addresses, dns: [], allowedIps: device.body.allowedIps, persistentKeepalive: device.body.persistentKeepalive }));
    assert.equal(await ping(kit, ns.cl, gatewayAddress, 2), false, `door ${b.door.id} passes nothing for a revoked device`);
  }
});

test('killing the agent and every daemon (they forget keys, ports, parameters and peers) and restarting converges every lane', async () => {
  const devices = await Promise.all(Array.from({ length: 20 }, () => enrollDevice()));
  for (const { lane } of LANES) await laneMatchesActive(lane, 'before the restart');
  const params = bound[1]!.door.params;
  await agent.kill('SIGKILL');
  gw0 = await restartDaemon(gw0);
  gw1 = await restartDaemon(gw1, true);
  gw2 = await restartDaemon(gw2);
  for (const { lane } of LANES) assert.equal((await lanePeers(lane)).length, 0, `lane ${lane}'s fresh daemon holds nothing`);
  const t0 = Date.now();
  agent = startAgent();
  await agent.waitFor(/gateway agent running/, 60_000);
  const runningMs = Date.now() - t0;
  for (const { lane } of LANES) await laneMatchesActive(lane, 'after the restart');
  console.log(`# three-lane gateway restart with ${devices.length} peers onto empty daemons: running after ${runningMs} ms, every lane converged after ${Date.now() - t0} ms`);
  assert.deepEqual((await readers.get(1)!.listPeers()).awg, params, 'amneziawg-go runs the same signed parameters again');
  // And a device still gets through the AmneziaWG door.
  const d = devices[0]!;
  const b = bindEnrolledDoors(d.body, await verifiedDoors())[1]!;
  await clientUp(b, renderDoorConfig(b.door, { privateKey: d.privateKey, addresses: b.addresses, dns: [], allowedIps: d.body.allowedIps, persistentKeepalive: d.body.persistentKeepalive }));
  assert.ok(await ping(kit, ns.cl, '10.67.0.1', 10), 'the AmneziaWG door carries pings after the restart');
});

async function restartDaemon(h: WireguardGoHandle, amneziawg = false): Promise<WireguardGoHandle> {
  await kit.stopWireguardGo(h);
  return kit.startWireguardGo(ns.gw, h.ifname, amneziawg ? AMNEZIAWG_GO : undefined);
}
