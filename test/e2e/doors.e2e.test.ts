/**
 * A two-lane gateway end to end, with real packets. Namespaces (tagged "dr"):
 *
 *   [cp]  damm serve                                   10.200.1.1 ─┐
 *                                                                   │ veth
 *   [gw]  two wireguard-go interfaces driven by one    10.200.1.2 ─┘  egress
 *         `damm gateway run --nat --wg-lane-port 51822`
 *           lane 0: :51820, tunnel 10.66.0.0/16        10.200.2.1 ─┐  endpoint
 *           lane 2: :51822, tunnel 10.68.0.0/16                     │ veth
 *   [cl]  wireguard-go configured by `wg` from the     10.200.2.2 ─┘
 *         exact .conf DAMM renders for each door
 *
 * One enrollment; the answer names both doors, bound to the verified catalog
 * (core/door-binding.ts); a client through each door pings that lane's
 * gateway address and whoami says through DAMM; each interface holds every
 * active device at its lane's address; the device's bytes on both lanes add
 * up in its usage; revocation takes the peer off both interfaces; each
 * lane's health reaches `GET /v1/operator/gateways`. Everything the test
 * starts dies with it (the netns kit's after() and exit hook).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { NetnsKit, type WireguardGoHandle } from '../helpers/netns.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';
import { renderDoorConfig } from '../../src/core/door-config.js';
import { bindEnrolledDoors, type BoundDoor } from '../../src/core/door-binding.js';
import { verifyCatalog } from '../../src/core/catalog.js';
import { trustRoot } from '../../src/core/trust/root.js';
import { lanePools, mapToLane, parsePools } from '../../src/core/ipam.js';
import { activeLines, damm, peerLines, pgRelay, ping, rootVeth, wgShow, type Proc } from './kit.js';
import { until } from '../helpers/wait.js';

const CP_PORT = 8080;
const GW_EGRESS = '10.200.1.2';
const GW_ENDPOINT = '10.200.2.1';
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
let gw2: WireguardGoHandle;
let cl: WireguardGoHandle;
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

async function laneMatchesActive(iface: WireguardGoHandle, lane: number, what: string): Promise<void> {
  let have: string[] = [];
  let want: string[] = [];
  await until(
    `${what}: wg show ${iface.ifname} (lane ${lane}) equals the active devices`,
    async () => {
      have = peerLines(await wgShow(kit, ns.gw, iface.ifname));
      want = await activeLinesInLane(lane);
      return JSON.stringify(have) === JSON.stringify(want) || undefined;
    },
    20_000,
    100,
  ).catch(() => assert.fail(`${what}: lane ${lane} differs: ${JSON.stringify({ have: have.slice(0, 3), want: want.slice(0, 3) })}`));
}

/** Brings the client's interface up from the .conf text (wg setconf + ip): the same steps wg-quick takes. */
async function clientUp(conf: string): Promise<void> {
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
  await kit.exec(ns.cl, ['ip', 'address', 'flush', 'dev', cl.ifname]);
  for (const a of addresses) assert.equal((await kit.exec(ns.cl, ['ip', 'address', 'add', a, 'dev', cl.ifname])).code, 0);
  assert.equal((await kit.exec(ns.cl, ['ip', 'link', 'set', 'dev', cl.ifname, 'up'])).code, 0);
  assert.equal((await kit.exec(ns.cl, ['ip', 'route', 'replace', 'default', 'dev', cl.ifname])).code, 0);
}

async function whoamiThroughTunnel(deviceId: string): Promise<any> {
  const url = `http://10.200.1.1:${CP_PORT}/v1/whoami?device=${deviceId}`;
  const r = await kit.exec(ns.cl, [process.execPath, '-e', 'fetch(process.argv[1]).then(async (r) => process.stdout.write(await r.text()))', url], { timeoutMs: 15_000 });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** rx + tx of one peer on one gateway interface. */
async function peerBytes(iface: WireguardGoHandle, publicKey: string): Promise<number> {
  const r = await kit.exec(ns.gw, ['wg', 'show', iface.ifname, 'transfer']);
  assert.equal(r.code, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => l.startsWith(`${publicKey}\t`));
  if (!line) return 0;
  const [, rx, tx] = line.split('\t');
  return Number(rx) + Number(tx);
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
  gw2 = await kit.startWireguardGo(ns.gw);
  cl = await kit.startWireguardGo(ns.cl);
  agent = damm(
    ns.gw,
    ['gateway', 'run', '--control-plane', `http://10.200.1.1:${CP_PORT}`, '--interface', gw0.ifname, '--listen-port', '51820',
      '--wg-lane-port', String(LANE2_PORT), '--wg-lane-interface', gw2.ifname,
      '--endpoint', `${GW_ENDPOINT}:51820`, '--egress-ip', GW_EGRESS, '--state-dir', gwState, '--backend', 'uapi', '--nat',
      '--reconcile-interval', '2', '--heartbeat-interval', '2', '--log-level', 'debug'],
    { DAMM_ROOT_SHA256: rootPin, DAMM_GATEWAY_TOKEN: gw.registrationToken },
  );
  await agent.waitFor(/gateway agent running/, 60_000);
});

after(async () => {
  if (process.env.DAMM_E2E_LOGS) await writeFile(process.env.DAMM_E2E_LOGS, `--- control plane\n${cp?.lines.join('\n')}\n--- agent\n${agent?.lines.join('\n')}\n`);
  await agent?.kill('SIGKILL');
  await cp?.kill('SIGKILL');
  await relay?.close();
  await database?.close();
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
  await kit?.cleanup();
});

let device: Awaited<ReturnType<typeof enrollDevice>>;
let bound: BoundDoor[];

test('one enrollment, two doors: a client through each pings that lane and whoami says through DAMM', async () => {
  device = await enrollDevice();
  const doors = await verifiedDoors();
  bound = bindEnrolledDoors(device.body, doors);
  const gatewayId = device.body.frontDoor.gatewayId as string;
  assert.deepEqual(
    bound.map((b) => [b.door.id, b.door.endpoint, b.door.tunnel.ipv4Cidr]),
    [
      [`${gatewayId}/T0/51820`, `${GW_ENDPOINT}:51820`, '10.66.0.0/16'],
      [`${gatewayId}/T0/${LANE2_PORT}`, `${GW_ENDPOINT}:${LANE2_PORT}`, '10.68.0.0/16'],
    ],
  );
  assert.notEqual(bound[0]!.door.publicKey, bound[1]!.door.publicKey, 'each interface its own key');
  assert.equal(bound[1]!.addresses.ipv4.replace(/^10\.68\./, '10.66.'), device.body.addresses.ipv4, 'the same offset on both lanes');

  await laneMatchesActive(gw0, 0, 'after enrollment');
  await laneMatchesActive(gw2, 2, 'after enrollment');
  for (const [i, gwAddress] of [[0, '10.66.0.1'], [1, '10.68.0.1']] as const) {
    const b = bound[i]!;
    const conf = renderDoorConfig(b.door, { privateKey: device.privateKey, addresses: b.addresses, dns: device.body.dns, allowedIps: device.body.allowedIps, persistentKeepalive: device.body.persistentKeepalive });
    await clientUp(conf);
    assert.ok(await ping(kit, ns.cl, gwAddress, 10), `door ${b.door.id}: the gateway answers on ${gwAddress}`);
    const who = await whoamiThroughTunnel(device.deviceId);
    assert.equal(who.viaDamm, true, `door ${b.door.id}: ${JSON.stringify(who)}`);
    assert.equal(who.ip, GW_EGRESS);
    assert.equal(who.device.id, device.deviceId);
  }
  // Each lane's health, as the agent's heartbeat reported it.
  await until('both lanes reported up and listening with one peer', async () => {
    const g = (await op('GET', '/v1/operator/gateways')).gateways.find((x: any) => x.id === gatewayId);
    const h = g.doors.map((d: any) => [d.lane, d.health?.up, d.health?.listening, d.health?.peers]);
    return JSON.stringify(h) === JSON.stringify([[0, true, true, 1], [2, true, true, 1]]) || undefined;
  }, 15_000, 200);
});

test("metering: the device's usage is its bytes on both interfaces added up", async () => {
  // Freeze the counters: the client forgets the gateway, so nothing more is sent (no keepalives either).
  const peers = await kit.exec(ns.cl, ['wg', 'show', cl.ifname, 'peers']);
  for (const key of peers.stdout.split('\n').filter(Boolean)) await kit.exec(ns.cl, ['wg', 'set', cl.ifname, 'peer', key, 'remove']);
  const lane0 = await peerBytes(gw0, device.publicKey);
  const lane2 = await peerBytes(gw2, device.publicKey);
  assert.ok(lane0 > 0 && lane2 > 0, `traffic on both lanes (${lane0}, ${lane2})`);
  let seen = -1;
  await until(
    `usage = ${lane0} + ${lane2}`,
    async () => {
      seen = await usageBytes(device.deviceId);
      return seen === lane0 + lane2 || undefined;
    },
    20_000,
    250,
  ).catch(() => assert.fail(`usage ${seen} is not ${lane0} (lane 0) + ${lane2} (lane 2)`));
});

/** whoami's usage for a device, asked from the test's side (the client's tunnel is down now). */
async function usageBytes(deviceId: string): Promise<number> {
  const r = (await (await fetch(`${cpUrl}/v1/whoami?device=${deviceId}`)).json()) as any;
  return r.device.usage.bytes;
}

test('revoking the device takes its peer off both interfaces; neither door passes its packets', async () => {
  await op('POST', `/v1/operator/devices/${device.deviceId}/revoke`, { reason: 'e2e doors' });
  await laneMatchesActive(gw0, 0, 'after revocation');
  await laneMatchesActive(gw2, 2, 'after revocation');
  for (const iface of [gw0, gw2]) {
    assert.ok(!(await wgShow(kit, ns.gw, iface.ifname)).some((p) => p.publicKey === device.publicKey), `${iface.ifname} no longer holds the peer`);
  }
  for (const [i, gwAddress] of [[0, '10.66.0.1'], [1, '10.68.0.1']] as const) {
    const b = bound[i]!;
    await clientUp(renderDoorConfig(b.door, { privateKey: device.privateKey, addresses: b.addresses, dns: [], allowedIps: device.body.allowedIps, persistentKeepalive: device.body.persistentKeepalive }));
    assert.equal(await ping(kit, ns.cl, gwAddress, 2), false, `door ${b.door.id} passes nothing for a revoked device`);
  }
});
