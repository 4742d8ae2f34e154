/**
 * WireGuard and AmneziaWG doors across the blocking regimes, with real
 * daemons and a real router (test/helpers/router.ts), no control plane:
 *
 * - gateway: one wireguard-go interface on UDP 51820, also answering on 443
 *   through the agent's own nftables redirect (host.ts redirectCommands), and
 *   one amneziawg-go interface on UDP 51821 configured with generated
 *   parameters; both driven by the production UAPI backend;
 * - client: wireguard-go configured by the real `wg` tool from the `.conf`
 *   DAMM renders (renderClientConfig), and amneziawg-go configured from the
 *   exact `.conf` text renderAwgClientConfig renders, parsed as the AmneziaWG
 *   apps parse it (test/helpers/awg-conf.ts: an unknown key fails).
 *
 * Each cell starts a fresh session (the client's config is loaded again,
 * which replaces its peer) and is a pass when a ping crosses the tunnel, a
 * failure when the router counted a drop of it and no handshake happened.
 * Reproduce: DAMM_TEST_PG_URL=… node scripts/run-tests.mjs test/e2e/amneziawg-regimes.e2e.test.ts
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { before, describe, it } from 'node:test';
import { awgTunnelMtu, generateAwgParams, renderAwgClientConfig } from '../../src/core/amneziawg.js';
import { renderClientConfig } from '../../src/core/wg-config.js';
import { redirectCommands } from '../../src/gateway/agent/host.js';
import { AMNEZIAWG_UAPI_SOCKET_DIR, UapiBackend, UapiClient } from '../../src/gateway/wireguard/uapi.js';
import { parseAwgConf, stripQuickKeys } from '../helpers/awg-conf.js';
import { AMNEZIAWG_GO, runOk, useNetnsKit, type WireguardGoHandle } from '../helpers/netns.js';
import { REGIMES, startRouterLab, type Regime, type RouterLab } from '../helpers/router.js';
import { generateKeyPair, wg, type KeyPair } from '../helpers/wireguard.js';

const kit = useNetnsKit();
// `wg setconf` reads a file: node's stdin pipes are sockets, which /dev/stdin cannot fopen.
const confDir = mkdtempSync(join(tmpdir(), 'damm-awg-'));
after(() => rmSync(confDir, { recursive: true, force: true }));

/** `wg setconf IF <file>` with the rendered config minus wg-quick's own keys (`wg-quick strip`). */
async function wgSetconf(ifname: string, conf: string): Promise<void> {
  const file = join(confDir, `${ifname}.conf`);
  writeFileSync(file, stripQuickKeys(conf), { mode: 0o600 });
  await wg(['setconf', ifname, file]);
}
const AWG_PORT = 51821;
const params = generateAwgParams(randomBytes);

interface Door {
  name: string;
  /** The client interface the door's config is loaded into. */
  client: WireguardGoHandle;
  /** Loads the door's config into the client (a fresh session). */
  load(): Promise<void>;
  /** The gateway's tunnel address this client pings. */
  target: string;
}

let lab: RouterLab;
const doors: Door[] = [];
let plainToAwg: Door;
let awgServer: UapiBackend;
let plainKey: KeyPair;

const EXPECTED: Record<string, Record<Regime, boolean>> = {
  'WireGuard :51820': { R0: true, R1: false, R2: false, R3: false, R4: false, R5: false },
  'WireGuard :443': { R0: true, R1: true, R2: false, R3: false, R4: false, R5: false },
  [`AmneziaWG :${AWG_PORT}`]: { R0: true, R1: true, R2: false, R3: true, R4: false, R5: false },
};

async function up(ns: string, ifname: string, address: string, peerTarget: string, mtu?: number): Promise<void> {
  await runOk(['ip', '-n', ns, 'address', 'add', address, 'dev', ifname]);
  if (mtu !== undefined) await runOk(['ip', '-n', ns, 'link', 'set', ifname, 'mtu', String(mtu)]);
  await runOk(['ip', '-n', ns, 'link', 'set', ifname, 'up']);
  if (peerTarget) await runOk(['ip', '-n', ns, 'route', 'add', `${peerTarget}/32`, 'dev', ifname]);
}

/** Last handshake (ms) the client interface reports for its one peer; 0 = none. */
async function clientHandshake(d: WireguardGoHandle): Promise<number> {
  const state = await new UapiClient({ socketPath: d.socketPath }).get();
  return state.peers[0]?.lastHandshakeMs ?? 0;
}

/** Ping once a second until one answers (true) or, when `failFast`, until the router counted a drop and two pings failed (false). */
async function reaches(door: Door, deadlineMs: number, failFast: boolean, drops0 = 0): Promise<boolean> {
  const deadline = Date.now() + deadlineMs;
  let failed = 0;
  while (Date.now() < deadline) {
    const r = await kit.exec(lab.client, ['ping', '-c', '1', '-W', '1', door.target], { timeoutMs: 5000 });
    if (r.code === 0) return true;
    failed++;
    if (failFast && failed >= 2 && (await lab.dropped()) > drops0) return false;
  }
  return false;
}

before(async () => {
  lab = await startRouterLab(kit, { prefix: 'awe' });
  const gwKey = generateKeyPair();
  const awgKey = generateKeyPair();

  // Gateway: WireGuard door on 51820 (+443 by the agent's redirect), AmneziaWG door on 51821.
  const gwWg = await kit.startWireguardGo(lab.gateway);
  const wgServer = new UapiBackend({ interfaceName: gwWg.ifname });
  await wgServer.configureInterface({ privateKey: gwKey.privateKey, listenPort: 51820 });
  await up(lab.gateway, gwWg.ifname, '10.70.0.1/24', '');
  await runOk(['ip', '-n', lab.gateway, 'address', 'add', '10.70.1.1/24', 'dev', gwWg.ifname]);
  for (const args of redirectCommands(gwWg.ifname, 51820, [443]).create) await runOk(['ip', 'netns', 'exec', lab.gateway, 'nft', ...args]);

  const gwAwg = await kit.startWireguardGo(lab.gateway, undefined, AMNEZIAWG_GO);
  awgServer = new UapiBackend({ interfaceName: gwAwg.ifname, socketDir: AMNEZIAWG_UAPI_SOCKET_DIR });
  await awgServer.configureInterface({ privateKey: awgKey.privateKey, listenPort: AWG_PORT, awg: params });
  await up(lab.gateway, gwAwg.ifname, '10.71.0.1/24', '', awgTunnelMtu(params));
  await runOk(['ip', '-n', lab.gateway, 'address', 'add', '10.71.1.1/24', 'dev', gwAwg.ifname]);

  // Clients, one interface per door.
  const wgConf = (key: KeyPair, addr: string, port: number, target: string): string =>
    renderClientConfig({
      privateKey: key.privateKey, addresses: { ipv4: addr, ipv6: 'fd00::2' }, dns: ['10.70.0.1'],
      peerPublicKey: gwKey.publicKey, endpoint: `${lab.gatewayIp}:${port}`, allowedIps: [`${target}/32`],
    });
  for (const [port, addr, target] of [[51820, '10.70.0.2', '10.70.0.1'], [443, '10.70.1.2', '10.70.1.1']] as const) {
    const key = generateKeyPair();
    await wgServer.applyPeers({ upsert: [{ publicKey: key.publicKey, allowedIps: [`${addr}/32`] }], remove: [] });
    const client = await kit.startWireguardGo(lab.client);
    const conf = wgConf(key, addr, port, target);
    await up(lab.client, client.ifname, `${addr}/32`, target);
    // The real `wg` tool reads the rendered config (without wg-quick's own keys); setconf replaces the peer: a fresh session.
    doors.push({ name: `WireGuard :${port}`, client, target, load: () => wgSetconf(client.ifname, conf) });
  }

  const awgClientKey = generateKeyPair();
  await awgServer.applyPeers({ upsert: [{ publicKey: awgClientKey.publicKey, allowedIps: ['10.71.0.2/32'] }], remove: [] });
  const awgConf = renderAwgClientConfig(
    { privateKey: awgClientKey.privateKey, addresses: { ipv4: '10.71.0.2', ipv6: 'fd00::2' }, dns: ['10.71.0.1'],
      peerPublicKey: awgKey.publicKey, endpoint: `${lab.gatewayIp}:${AWG_PORT}`, allowedIps: ['10.71.0.1/32'] },
    params,
  );
  const parsed = parseAwgConf(awgConf);
  assert.deepEqual(parsed.interfaceKeys, ['privatekey', 'address', 'dns', 'mtu', 'jc', 'jmin', 'jmax', 's1', 's2', 's3', 's4', 'h1', 'h2', 'h3', 'h4', 'i1']);
  const awgClient = await kit.startWireguardGo(lab.client, undefined, AMNEZIAWG_GO);
  await up(lab.client, awgClient.ifname, parsed.addresses[0]!, '10.71.0.1', parsed.mtu);
  doors.push({
    name: `AmneziaWG :${AWG_PORT}`, client: awgClient, target: '10.71.0.1',
    load: async () => assert.equal(await new UapiClient({ socketPath: awgClient.socketPath }).set(parsed.uapi), 0),
  });

  // A plain WireGuard client aimed at the AmneziaWG door, admitted there with its own key.
  plainKey = generateKeyPair();
  await awgServer.applyPeers({ upsert: [{ publicKey: plainKey.publicKey, allowedIps: ['10.71.1.2/32'] }], remove: [] });
  const plain = await kit.startWireguardGo(lab.client);
  await up(lab.client, plain.ifname, '10.71.1.2/32', '10.71.1.1');
  const plainConf = renderClientConfig({
    privateKey: plainKey.privateKey, addresses: { ipv4: '10.71.1.2', ipv6: 'fd00::3' }, dns: [],
    peerPublicKey: awgKey.publicKey, endpoint: `${lab.gatewayIp}:${AWG_PORT}`, allowedIps: ['10.71.1.1/32'],
  });
  plainToAwg = { name: 'plain WireGuard to the AmneziaWG door', client: plain, target: '10.71.1.1', load: () => wgSetconf(plain.ifname, plainConf) };
});

describe('doors across the blocking regimes', () => {
  const table: Record<string, Partial<Record<Regime, boolean>>> = {};
  for (const regime of REGIMES) {
    it(`${regime}: each door passes or fails as expected`, async () => {
      await lab.setRegime(regime);
      for (const door of doors) {
        // Loading replaces the peer (no session left); its PersistentKeepalive makes it initiate at once.
        const drops0 = await lab.dropped();
        const loadedAt = Date.now();
        await door.load();
        const expected = EXPECTED[door.name]![regime];
        const ok = await reaches(door, expected ? 15_000 : 8000, !expected, drops0);
        (table[door.name] ??= {})[regime] = ok;
        assert.equal(ok, expected, `${regime} ${door.name}`);
        if (expected) {
          assert.ok((await clientHandshake(door.client)) >= loadedAt - 1000, `${regime} ${door.name}: a handshake of this session`);
        } else {
          assert.ok((await lab.dropped()) > drops0, `${regime} ${door.name}: the router counted the drops`);
          assert.equal(await clientHandshake(door.client), 0, `${regime} ${door.name}: no handshake`);
        }
      }
    });
  }

  it('prints the table', () => {
    const rows = Object.entries(table).map(([name, cells]) => `| ${name} | ${REGIMES.map((r) => (cells[r] === undefined ? '?' : cells[r] ? 'pass' : 'blocked')).join(' | ')} |`);
    console.log(`# | door | ${REGIMES.join(' | ')} |\n# |---|${REGIMES.map(() => '---').join('|')}|\n# ${rows.join('\n# ')}`);
    assert.equal(rows.length, 3);
  });
});

it('a plain WireGuard client gets no handshake from the AmneziaWG door (no regime: R0)', async () => {
  await lab.setRegime('R0');
  await plainToAwg.load();
  // The AmneziaWG client on the same port handshakes in R0 (above); this one, dropped by the server as an unknown message type, never does.
  assert.equal(await reaches(plainToAwg, 6000, false), false);
  assert.equal(await clientHandshake(plainToAwg.client), 0);
  const peer = (await awgServer.listPeers()).peers.find((p) => p.publicKey === plainKey.publicKey);
  assert.ok(peer, 'the plain client is admitted on the door');
  assert.equal(peer.lastHandshakeMs, 0, 'the server never completed a handshake with it');
  assert.equal(peer.rxBytes, 0n);
});
