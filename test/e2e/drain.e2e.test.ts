/**
 * Draining a gateway with real packets. Two namespaces and the test's own:
 *
 *   [test]  control plane (in this process, real Postgres)   10.213.x.1 ─┐ veth
 *   [gw]    wireguard-go + damm gateway run --nat (gateway A)  10.213.x.2 ─┘ egress
 *                                                              10.216.2.1 ─┐ veth: WireGuard endpoint
 *   [cl]    wireguard-go configured from the exact .conf       10.216.2.2 ─┘
 *
 * Gateway B is a second gateway of region NL registered through the API and
 * kept online by heartbeats from the test (no data plane: no device of this
 * test ever uses its door). A device placed on A passes packets; A is
 * drained with the `damm` CLI; a burst of new devices all land on B; the
 * device on A keeps passing packets and whoami through its tunnel says so;
 * A's interface still holds exactly the region's devices. Namespaces are
 * named dammt-<pid>-gw16…
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { NetnsKit, type WireguardGoHandle } from '../helpers/netns.js';
import { startTestControlPlane, registerTestGateway, retryingStoreUnavailable, type TestControlPlane } from '../helpers/control-plane.js';
import { wgKeyPair } from '../helpers/keys.js';
import { renderClientConfig } from '../../src/core/wg-config.js';
import { activeLines, clientUpFromConf, damm, peerLines, ping, rootVeth, whoamiFrom, wgShow, type Proc } from './kit.js';
import { until } from '../helpers/wait.js';

const GW_ENDPOINT = '10.216.2.1';
const GW_TUNNEL = '10.66.0.1';

let kit: NetnsKit;
let cp: TestControlPlane;
let ns: { gw: string; cl: string };
let egress: string;
let agent: Proc;
let gwWg: WireguardGoHandle;
let clWg: WireguardGoHandle;
let gatewayA: string;
let gatewayB: { gatewayId: string; credential: string };
let heartbeats: NodeJS.Timeout | null = null;
let invite: string;

async function enroll(): Promise<{ privateKey: string; publicKey: string; body: any }> {
  const kp = wgKeyPair();
  const r = await retryingStoreUnavailable('an enrollment', () => cp.call('POST', '/v1/enroll', { installPass: invite, publicKey: kp.publicKey, region: 'NL' }));
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { ...kp, body: r.body };
}

/** `wg show` on gateway A equals the region's active devices: a drained gateway still admits the whole region. */
async function gatewayAHoldsRegion(what: string): Promise<void> {
  await until(`${what}: wg show on A to equal the active devices of region NL`, async () => {
    const have = peerLines(await wgShow(kit, ns.gw, gwWg.ifname));
    const want = await activeLines(cp.database.db);
    return JSON.stringify(have) === JSON.stringify(want) || undefined;
  }, 30_000, 100);
}

before(async () => {
  kit = new NetnsKit(); // throws, never skips, when root, wireguard-go, wg or ping is missing
  ns = { gw: await kit.namespace('gw16'), cl: await kit.namespace('gw16') };
  const v = await rootVeth(ns.gw);
  egress = v.inner;
  await kit.veth(ns.gw, `${GW_ENDPOINT}/24`, ns.cl, '10.216.2.2/24');
  cp = await startTestControlPlane({ host: v.root });
  const rootV1 = JSON.parse(await readFile(path.join(cp.dataDir, 'offline-root', 'root-1.json'), 'utf8')) as { payload: string };
  const rootPin = createHash('sha256').update(Buffer.from(rootV1.payload, 'base64')).digest('hex');
  invite = (await cp.op('POST', '/v1/operator/invites', { uses: 1000 })).body.token;

  const add = await cp.op('POST', '/v1/operator/gateways', { region: 'NL', country: 'NL', name: 'gw16-a' });
  gatewayA = add.body.gatewayId;
  gatewayB = await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey, region: 'NL', country: 'NL', host: '192.0.2.16', egressIps: ['192.0.2.16'] });
  let seq = 1;
  heartbeats = setInterval(() => {
    void cp.call('POST', `/v1/gateways/${gatewayB.gatewayId}/heartbeat`, { seq: ++seq, peers: [] }, { authorization: `Bearer ${gatewayB.credential}` });
  }, 3000);

  gwWg = await kit.startWireguardGo(ns.gw);
  clWg = await kit.startWireguardGo(ns.cl);
  agent = damm(
    ns.gw,
    ['gateway', 'run', '--control-plane', cp.url, '--interface', gwWg.ifname, '--listen-port', '51820', '--endpoint', `${GW_ENDPOINT}:51820`,
      '--egress-ip', egress, '--state-dir', path.join(cp.dataDir, 'gw16-state'), '--backend', 'uapi', '--nat',
      '--reconcile-interval', '2', '--heartbeat-interval', '2'],
    { DAMM_GATEWAY_TOKEN: add.body.registrationToken, DAMM_ROOT_SHA256: rootPin },
  );
  await agent.waitFor(/gateway agent running/, 60_000);
});

after(async () => {
  if (heartbeats) clearInterval(heartbeats);
  await agent?.kill('SIGKILL');
  await cp?.stop();
  await kit?.cleanup();
});

test('a drained gateway takes no new device; the device already on it keeps passing packets through it', async () => {
  // The first device on A (placement alternates between two empty gateways, ties by id).
  let onA = await enroll();
  if (onA.body.placement.given.gatewayId !== gatewayA) onA = await enroll();
  assert.equal(onA.body.placement.given.gatewayId, gatewayA);
  assert.equal(onA.body.frontDoor.endpoint, `${GW_ENDPOINT}:51820`);
  const conf = renderClientConfig({
    privateKey: onA.privateKey, addresses: onA.body.addresses, dns: onA.body.dns, peerPublicKey: onA.body.frontDoor.publicKey,
    endpoint: onA.body.frontDoor.endpoint, allowedIps: onA.body.allowedIps, persistentKeepalive: onA.body.persistentKeepalive,
  });
  await gatewayAHoldsRegion('before the drain');
  await clientUpFromConf(kit, ns.cl, clWg.ifname, conf);
  assert.ok(await ping(kit, ns.cl, GW_TUNNEL, 10), 'the device on A passes packets before the drain');

  // The operator drains A with the CLI.
  const drain = damm(null, ['gateway', 'drain', gatewayA, '--url', cp.url, '--token', cp.operatorToken, '--reason', 'gw16 maintenance']);
  assert.equal(await drain.exited, 0, drain.lines.join('\n'));
  assert.match(drain.lines.join('\n'), /is drained: no new devices land there/);

  // A burst of new devices: every one lands on B.
  const burst = await Promise.all(Array.from({ length: 20 }, () => enroll()));
  assert.deepEqual([...new Set(burst.map((d) => d.body.placement.given.gatewayId))], [gatewayB.gatewayId]);
  const onADb = await cp.database.db.query("SELECT count(*) AS n FROM devices WHERE gateway_id = $1 AND state = 'active'", [gatewayA]);
  assert.equal(Number(onADb.rows[0].n), 1, 'only the device placed before the drain is on A');

  // A keeps serving: it holds the region's devices (drained, not emptied), and the device on A passes packets.
  await gatewayAHoldsRegion('after the drain and the burst');
  assert.ok(await ping(kit, ns.cl, GW_TUNNEL, 10), 'the device on A still passes packets after the drain');
  const who = await whoamiFrom(kit, ns.cl, `${cp.url}/v1/whoami?device=${onA.body.deviceId}`);
  assert.equal(who.viaDamm, true, JSON.stringify(who));
  assert.equal(who.gateway.id, gatewayA);
  assert.equal(who.device.placedOn.status, 'drained');
  assert.equal(who.device.notice, null, 'a drained gateway is not a dead config');
  // A fresh handshake (the session re-keyed from scratch) is accepted too: the peer is really there, not a cached session.
  await kit.exec(ns.cl, ['ip', 'link', 'set', 'dev', clWg.ifname, 'down']);
  await clientUpFromConf(kit, ns.cl, clWg.ifname, conf);
  assert.ok(await ping(kit, ns.cl, GW_TUNNEL, 10), 'a new session to the drained gateway works');

  // Undrained, A (1 device against B's 21) takes the next one.
  const undrain = damm(null, ['gateway', 'undrain', gatewayA, '--url', cp.url, '--token', cp.operatorToken]);
  assert.equal(await undrain.exited, 0, undrain.lines.join('\n'));
  assert.equal((await enroll()).body.placement.given.gatewayId, gatewayA);
});
