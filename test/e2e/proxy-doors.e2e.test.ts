/**
 * The proxy doors end to end, client ↔ router ↔ gateway in network
 * namespaces, the router playing the hostile networks of DESIGN.md:
 *   R4: every new TCP flow except to ports 80/443 is dropped, and all UDP;
 *   R5: R4, and any TCP flow whose first client payload does not start like
 *       TLS (16 03) or an HTTP method.
 * The gateway runs outline-ss-server (T2 raw Shadowsocks on 443; T3 its
 * WebSocket listeners) and Xray (T3 VLESS over WebSocket), driven by
 * src/gateway/proxies/, with Caddy terminating TLS on a second address with
 * a certificate from a CA this test makes. Real clients in the client
 * namespace: Outline's SDK (outline-fetch) and Xray, configured from the
 * exact text src/core/proxy-config.ts renders (the translations the apps do
 * themselves are in the helpers below, each saying what it maps). The
 * credentials are made and sealed as a device does (core/proxy-credential,
 * core/seal) and opened by the gateway's side (gateway/proxies/sync).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { seal, sealingKeyPair } from '../../src/core/seal.js';
import { encodeProxyCredential, newProxyCredential } from '../../src/core/proxy-credential.js';
import { openCredentials } from '../../src/gateway/proxies/sync.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { OutlineSsServer } from '../../src/gateway/proxies/outline-ss.js';
import { XrayVlessServer } from '../../src/gateway/proxies/xray.js';
import { outlineDynamicKey, shadowsocksAccessKey, vlessShareLink } from '../../src/core/proxy-config.js';
import { DynamicKeyServer } from '../../src/gateway/proxies/dynamic-key-server.js';
import { outlineWsTransport, requireProxyTools, runClient, testCertificate, xrayClientConfig } from '../gateway/proxies/kit.js';
import { useNetnsKit } from '../helpers/netns.js';
import { rootVeth } from './kit.js';
import { startServerChild, type ServerChild } from '../../src/gateway/proxies/child.js';
import { until } from '../helpers/wait.js';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';

requireProxyTools(['caddy']);
const kit = useNetnsKit();
const client = await kit.namespace();
const router = await kit.namespace();
const gw = await kit.namespace();
const { ifA: routerClientSide } = await kit.veth(router, '198.18.90.1/24', client, '198.18.90.2/24');
const { ifB: gwIf } = await kit.veth(router, '198.18.91.1/24', gw, '198.18.91.2/24');
const ssIp = '198.18.91.2'; // T2 raw Shadowsocks and the web target
const tlsIp = '198.18.91.3'; // Caddy: the TLS doors
await kit.exec(gw, ['ip', 'addr', 'add', `${tlsIp}/24`, 'dev', gwIf]);
await kit.exec(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
await kit.exec(client, ['ip', 'route', 'add', 'default', 'via', '198.18.90.1']);
await kit.exec(gw, ['ip', 'route', 'add', 'default', 'via', '198.18.91.1']);

const mgmt = await rootVeth(gw);
const host = 'door.px.test';
const dir = mkdtempSync(path.join(tmpdir(), 'px-e2e-'));
// `ip netns exec` bind-mounts /etc/netns/NS/hosts over /etc/hosts: the door's name resolves in the client only.
mkdirSync(`/etc/netns/${client}`, { recursive: true });
writeFileSync(`/etc/netns/${client}/hosts`, `127.0.0.1 localhost\n${tlsIp} ${host}\n`);
// Also on exit: a failure in this file's top-level set-up ends the process without after() hooks.
process.once('exit', () => rmSync(`/etc/netns/${client}`, { recursive: true, force: true }));
const children: ServerChild[] = [];
after(async () => {
  for (const c of children) await c.stop();
  rmSync(`/etc/netns/${client}`, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});
const spawnIn = (ns: string, argv: string[], what: string) => {
  const c = startServerChild(['ip', 'netns', 'exec', ns, ...argv], what);
  children.push(c);
  return c;
};

const target = spawnIn(gw, [process.execPath, fileURLToPath(new URL('../gateway/proxies/http-target.mjs', import.meta.url)), ssIp, '8080'], 'web target');
await target.waitForLine(/^listening/, 0, 15_000);
const tls = await testCertificate(dir, host);

const ssPaths = { tcpPath: `/${randomBytes(6).toString('hex')}/tcp`, udpPath: `/${randomBytes(6).toString('hex')}/udp` };
const vlPath = `/${randomBytes(6).toString('hex')}/vl`;
// Credentials as issue 12 wants them: made on the device from its own random bytes, sealed to the
// gateway's sealing key for one door, opened only by the gateway (which feeds the drivers).
const gatewaySeal = sealingKeyPair();
const ssDoor = { gatewayId: 'gw-px', doorId: 'shadowsocks', protocol: 'shadowsocks' as const };
const vlDoor = { gatewayId: 'gw-px', doorId: 'vless-ws', protocol: 'vless' as const };
const device = (deviceId: string) => {
  const ss = newProxyCredential('shadowsocks', new Uint8Array(randomBytes(32)));
  const vl = newProxyCredential('vless', new Uint8Array(randomBytes(16)));
  return {
    deviceId,
    // What the control plane stores and relays: sealed bytes only.
    sealedSs: seal(gatewaySeal.publicKey, encodeProxyCredential('shadowsocks', ss), ssDoor),
    sealedVl: seal(gatewaySeal.publicKey, encodeProxyCredential('vless', vl), vlDoor),
    // What the device keeps to render its keys and links.
    ss: { secret: ss },
    vl: { secret: vl },
  };
};
const devices = [device('dev-alice'), device('dev-bob')];
const [alice, bob] = devices as [ReturnType<typeof device>, ReturnType<typeof device>];
/** The gateway's side: open what it was given, for each door. */
const gatewayUsers = (held: typeof devices) => {
  const ssOpened = openCredentials(gatewaySeal.privateKey, ssDoor, held.map((d) => ({ deviceId: d.deviceId, sealed: d.sealedSs })));
  const vlOpened = openCredentials(gatewaySeal.privateKey, vlDoor, held.map((d) => ({ deviceId: d.deviceId, sealed: d.sealedVl })));
  assert.deepEqual([...ssOpened.refused, ...vlOpened.refused], []);
  return { ss: ssOpened.users, vl: vlOpened.users };
};

const ss = new OutlineSsServer({
  configPath: path.join(dir, 'outline-ss.yml'),
  listeners: { address: `${ssIp}:443`, webSocket: { listen: '127.0.0.1:8081', ...ssPaths } },
  // The driver (in the test's namespace) reads the metrics over a management veth.
  metricsAddress: `${mgmt.inner}:9091`,
  command: ['ip', 'netns', 'exec', gw, 'outline-ss-server'],
});
const xray = new XrayVlessServer({
  configPath: path.join(dir, 'xray.json'),
  inbound: { listen: '127.0.0.1', port: 10443, path: vlPath },
  apiAddress: '127.0.0.1:10085',
  command: ['ip', 'netns', 'exec', gw, 'xray'],
});
after(() => ss.stop());
after(() => xray.stop());
const initial = gatewayUsers(devices);
await ss.start(initial.ss);
await xray.start(initial.vl);
// The dynamic-key configs, served from the gateway side (here: the test's namespace, over the management veth).
const dynamicKeys = new DynamicKeyServer({ host, prefix: '/c', ...ssPaths });
dynamicKeys.set(initial.ss);
const dynPort = (await dynamicKeys.listen(mgmt.root, 0)).port;
after(() => dynamicKeys.close());

// Caddy on the TLS address, as docs/doors.md sets it up (certificate files instead of ACME).
const caddyfile = path.join(dir, 'Caddyfile');
writeFileSync(caddyfile, [
  '{', '\tadmin off', '\tauto_https disable_redirects', '}',
  `https://${host}:443 {`,
  `\tbind ${tlsIp}`,
  `\ttls ${tls.certFile} ${tls.keyFile}`,
  // handle blocks: Caddy orders `respond` before `reverse_proxy`, so a bare catch-all would win.
  `\thandle ${ssPaths.tcpPath} {`, '\t\treverse_proxy 127.0.0.1:8081', '\t}',
  `\thandle ${ssPaths.udpPath} {`, '\t\treverse_proxy 127.0.0.1:8081', '\t}',
  `\thandle ${vlPath} {`, '\t\treverse_proxy 127.0.0.1:10443', '\t}',
  '\thandle /c/* {', `\t\treverse_proxy ${mgmt.root}:${dynPort}`, '\t}',
  '\thandle {', '\t\trespond 404', '\t}',
  '}', '',
].join('\n'));
const caddy = spawnIn(gw, ['env', `HOME=${dir}`, `XDG_DATA_HOME=${dir}/caddy-data`, `XDG_CONFIG_HOME=${dir}/caddy-config`, 'caddy', 'run', '--config', caddyfile, '--adapter', 'caddyfile'], 'caddy');
await caddy.waitForLine(/serving initial configuration/, 0, 20_000);

// ---- clients -------------------------------------------------------------

const URL_HELLO = `http://${ssIp}:8080/hello`;

/** T2: the ss:// key exactly as rendered, as outline-fetch's -transport. */
function t2Fetch(u: { secret: string }, urlPath = '/hello', timeoutS = 8) {
  const key = shadowsocksAccessKey({ host: ssIp, port: 443, secret: u.secret, name: 'DAMM T2' });
  return runClient(client, ['outline-fetch', '-timeout', String(timeoutS), '-transport', key, `http://${ssIp}:8080${urlPath}`]);
}

/** The ssconf:// key as rendered, fetched the way the Outline app does (https:// on the same host and path). */
async function dynamicKeyYaml(u: { secret: string }): Promise<{ status: string; yaml: string }> {
  const key = outlineDynamicKey({ host, prefix: '/c', secret: u.secret, name: 'DAMM T3' });
  const https = key.replace(/^ssconf:/, 'https:').replace(/#.*$/, '');
  const r = await runClient(client, ['curl', '-sS', '--cacert', tls.caFile, '--max-time', '8', '-o', '-', '-w', '\n%{http_code}', https]).done;
  const text = r.stdout.toString();
  const cut = text.lastIndexOf('\n');
  return { status: text.slice(cut + 1), yaml: text.slice(0, cut) };
}

const outlineFetch = (transport: string, urlPath: string, timeoutS: number) =>
  runClient(client, ['env', `SSL_CERT_FILE=${tls.caFile}`, 'outline-fetch', '-timeout', String(timeoutS), '-transport', transport, `http://${ssIp}:8080${urlPath}`]);

async function t3SsFetch(u: { secret: string }, urlPath = '/hello', timeoutS = 8) {
  const { status, yaml } = await dynamicKeyYaml(u);
  assert.equal(status, '200', 'the gateway serves this device its dynamic key');
  return outlineFetch(outlineWsTransport(yaml), urlPath, timeoutS);
}

let socksPort = 21080;
const vlessClients = new Map<string, number>();
/** T3 VLESS: Xray as the client, from the rendered vless:// link (kit.ts maps it as v2rayNG does). */
async function vlessSocks(u: { secret: string }): Promise<number> {
  const known = vlessClients.get(u.secret);
  if (known) return known;
  const link = vlessShareLink({ host, port: 443, uuid: u.secret, path: vlPath, sni: host, name: 'DAMM T3' });
  const port = socksPort++;
  const file = path.join(dir, `xray-client-${port}.json`);
  writeFileSync(file, xrayClientConfig(link, port, tls.caFile));
  await spawnIn(client, ['xray', 'run', '-c', file], `xray client ${port}`).waitForLine(/started/, 0, 15_000);
  vlessClients.set(u.secret, port);
  return port;
}
async function t3VlessFetch(u: { secret: string }, urlPath = '/hello', maxS = 8) {
  const port = await vlessSocks(u);
  return runClient(client, ['curl', '-sS', '--fail', '--max-time', String(maxS), '--socks5-hostname', `127.0.0.1:${port}`, `http://${ssIp}:8080${urlPath}`]);
}

const hello = (r: { code: number | null; stdout: Buffer }) => r.code === 0 && r.stdout.toString().startsWith('hello through the door');
function passes(r: { code: number | null; stdout: Buffer; stderr: string }, what: string): void {
  assert.ok(hello(r), `${what}: exit ${r.code}, ${r.stderr.trim().slice(-600)}`);
}

// ---- the router ----------------------------------------------------------

const HTTP_METHODS = ['GET ', 'POST', 'HEAD', 'PUT ', 'OPTI', 'DELE', 'PATC', 'CONN'].map((m) => `0x${Buffer.from(m).toString('hex')}`);

async function regime(name: 'R0' | 'R4' | 'R5'): Promise<void> {
  await kit.exec(router, ['nft', 'delete', 'table', 'inet', 'pxr']);
  if (name === 'R0') return;
  const lines = [
    'table inet pxr {',
    '  chain filter_fw {',
    '    type filter hook forward priority 0; policy accept;',
    `    iifname != "${routerClientSide}" accept`,
    '    meta l4proto udp drop',
    '    tcp dport != { 80, 443 } ct state new drop',
  ];
  if (name === 'R5') {
    // Judge each flow by its first client payload: a TLS record or an HTTP method marks the flow
    // good; anything else is dropped. Packets without payload (SYN, ACK) fail to load @ih and pass.
    lines.push(
      '    ct mark 1 accept',
      '    @ih,0,16 0x1603 ct mark set 1 accept',
      `    @ih,0,32 { ${HTTP_METHODS.join(', ')} } ct mark set 1 accept`,
      '    @ih,0,8 0-255 drop',
    );
  }
  lines.push('  }', '}', '');
  const r = await kit.exec(router, ['nft', '-f', '-'], { stdin: lines.join('\n') });
  assert.equal(r.code, 0, r.stderr);
}

// ---- tests ----------------------------------------------------------------

test('R0: every proxy door reaches the target', async () => {
  await regime('R0');
  passes(await t2Fetch(alice.ss).done, 'T2 Shadowsocks');
  passes(await (await t3SsFetch(alice.ss)).done, 'T3 Shadowsocks over WebSocket+TLS');
  passes(await (await t3VlessFetch(alice.vl)).done, 'T3 VLESS over WebSocket+TLS');
});

test('R4 (only TCP 80/443): all three proxy doors pass; a plain TCP flow to another port does not', async () => {
  await regime('R4');
  const direct = await runClient(client, ['curl', '-sS', '--max-time', '3', URL_HELLO]).done;
  assert.notEqual(direct.code, 0, 'the router really blocks TCP 8080');
  passes(await t2Fetch(alice.ss).done, 'T2 Shadowsocks on 443');
  passes(await (await t3SsFetch(alice.ss)).done, 'T3 Shadowsocks over WebSocket+TLS');
  passes(await (await t3VlessFetch(alice.vl)).done, 'T3 VLESS over WebSocket+TLS');
});

test('R5 (first payload must look like TLS or HTTP): raw Shadowsocks fails, the TLS doors pass', async () => {
  await regime('R5');
  assert.ok(!hello(await t2Fetch(alice.ss, '/hello', 4).done), 'T2 raw Shadowsocks is stopped');
  passes(await (await t3SsFetch(alice.ss)).done, 'T3 Shadowsocks over WebSocket+TLS');
  passes(await (await t3VlessFetch(alice.vl)).done, 'T3 VLESS over WebSocket+TLS');
});

test('under R5, revoking alice on both servers refuses her next connections while bob\'s transfers continue; counters move', async () => {
  await regime('R5');
  const chunks = 120;
  const since = target.mark();
  const bobVless = await t3VlessFetch(bob.vl, `/slow/${chunks}/25`, 60);
  const bobSs = await t3SsFetch(bob.ss, `/slow/${chunks}/25`, 60);
  await until('both of bob\'s transfers started', () => target.lines().slice(-(target.mark() - since)).filter((l) => /slow-started/.test(l)).length >= 2, 15_000);
  await until('bob has bytes on both', () => bobVless.received() > 0 && bobSs.received() > 0);

  const aliceKept = await dynamicKeyYaml(alice.ss); // the config alice's app holds
  const left = gatewayUsers([bob]);
  await Promise.all([ss.apply(left.ss), xray.apply(left.vl)]);
  dynamicKeys.set(left.ss);
  assert.deepEqual(await xray.actual(), ['dev-bob']);
  assert.deepEqual(await ss.actual(), ['dev-bob']);
  assert.equal((await dynamicKeyYaml(alice.ss)).status, '404', "alice's dynamic key is no longer served");
  const aliceWs = outlineFetch(outlineWsTransport(aliceKept.yaml), '/hello', 4);
  assert.ok(!hello(await aliceWs.done), 'alice refused on Shadowsocks/WebSocket (with the key she kept)');
  assert.ok(!hello(await (await t3VlessFetch(alice.vl, '/hello', 4)).done), 'alice refused on VLESS');

  const [v, s] = await Promise.all([bobVless.done, bobSs.done]);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.length, chunks * 16384, 'bob\'s VLESS transfer whole');
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout.length - 1, chunks * 16384, 'bob\'s Shadowsocks transfer whole (outline-fetch adds a newline)');

  const vc = (await xray.counters()).get('dev-bob');
  assert.ok(vc && vc.txBytes >= BigInt(chunks * 16384), `xray counted bob: ${vc?.txBytes}`);
  const sc = await until('outline-ss-server counted bob', async () => {
    const c = (await ss.counters()).get('dev-bob');
    return c && c.txBytes >= BigInt(chunks * 16384) ? c : undefined;
  });
  assert.ok(sc.rxBytes > 0n);
});
