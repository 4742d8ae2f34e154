/**
 * Xray-core serving VLESS over WebSocket+TLS, driven by
 * src/gateway/proxies/xray.ts, for real: the server in a gateway namespace
 * with a certificate from a CA made here, Xray itself as the VLESS client in
 * a client namespace (configured from the exact vless:// link
 * src/core/proxy-config.ts renders; see kit.ts for the one thing a link does
 * not carry), curl through the client's SOCKS inbound to a web server beside
 * the gateway. Users are added and removed through Xray's API while another
 * user's transfer is in progress.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { XrayVlessServer } from '../../../src/gateway/proxies/xray.js';
import { vlessShareLink } from '../../../src/core/proxy-config.js';
import { proxyNet, runClient, testCertificate, xrayClientConfig } from './kit.js';
import { until } from '../../helpers/wait.js';

const net = await proxyNet(72);
const sni = 'door.px.test';
const tls = await testCertificate(net.dir, sni);
const wsPath = '/vl7/ws';
const user = (id: string) => ({ id, secret: randomUUID() });
const alice = user('dev-alice');
const bob = user('dev-bob');
const carol = user('dev-carol');

const server = new XrayVlessServer({
  configPath: path.join(net.dir, 'xray.json'),
  inbound: { listen: net.gwIp, port: 443, path: wsPath, tls: { certificateFile: tls.certFile, keyFile: tls.keyFile } },
  apiAddress: '127.0.0.1:10085',
  command: ['ip', 'netns', 'exec', net.gw, 'xray'],
});
after(() => server.stop());

let nextSocks = 11080;
/** A VLESS client for `u` in the client namespace; returns its SOCKS port once it listens. */
async function clientFor(u: { secret: string }): Promise<number> {
  const link = vlessShareLink({ host: net.gwIp, port: 443, uuid: u.secret, path: wsPath, sni, name: 'DAMM test' });
  const socks = nextSocks++;
  const file = path.join(net.dir, `client-${socks}.json`);
  writeFileSync(file, xrayClientConfig(link, socks, tls.caFile));
  const c = net.spawnIn(net.client, ['xray', 'run', '-c', file], `xray client ${socks}`);
  await c.waitForLine(/started/, 0, 15_000);
  return socks;
}
const curl = (socks: number, urlPath: string, maxS = 30) =>
  runClient(net.client, ['curl', '-sS', '--fail', '--max-time', String(maxS), '--socks5-hostname', `127.0.0.1:${socks}`, `http://${net.gwIp}:${net.targetPort}${urlPath}`]);

let aliceSocks = 0;
let carolNow = '';
let bobSocks = 0;

test('a user the server holds reaches the web target over VLESS+WS+TLS; bytes are counted per user', async () => {
  await server.start([alice, bob]);
  assert.deepEqual(await server.actual(), ['dev-alice', 'dev-bob']);
  const { statSync } = await import('node:fs');
  assert.equal(statSync(path.join(net.dir, 'xray.json')).mode & 0o777, 0o600, 'the config holds UUIDs: owner only');
  aliceSocks = await clientFor(alice);
  bobSocks = await clientFor(bob);
  const r = await curl(aliceSocks, '/bytes/300000').done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.length, 300000);
  const c = await until('alice counted', async () => {
    const m = (await server.counters()).get('dev-alice');
    return m && m.txBytes >= 300000n ? m : undefined;
  });
  assert.ok(c.rxBytes > 0n);
  const b = await curl(bobSocks, '/hello').done;
  assert.equal(b.stdout.toString(), 'hello through the door');
});

test('a UUID the server does not hold is refused', async () => {
  const r = await curl(await clientFor(carol), '/hello', 5).done;
  assert.notEqual(r.code, 0);
  assert.equal(r.stdout.length, 0);
});

test('API add/remove while alice streams: alice completes, carol works at once, bob is refused', async () => {
  const chunks = 120;
  const since = net.target.mark();
  const stream = curl(aliceSocks, `/slow/${chunks}/25`, 60);
  await net.target.waitForLine(/slow-started/, since, 15_000);
  await until('alice has received bytes', () => stream.received() > 0);
  await server.apply([alice, carol]);
  assert.deepEqual(await server.actual(), ['dev-alice', 'dev-carol']);
  assert.ok(stream.received() < chunks * 16384, 'the change happened mid-transfer');

  const c = await curl(nextSocks - 1, '/hello').done; // carol's client, started in the previous test
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.stdout.toString(), 'hello through the door');
  const b = await curl(bobSocks, '/hello', 5).done;
  assert.notEqual(b.code, 0, 'bob was removed');

  const a = await stream.done;
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout.length, chunks * 16384, 'alice got every byte across the change');
});

test('a changed UUID for the same id replaces the old one; bad input changes nothing', async () => {
  const carol2 = { id: 'dev-carol', secret: randomUUID() };
  carolNow = carol2.secret;
  await server.apply([alice, carol2]);
  const oldCarol = await curl(nextSocks - 1, '/hello', 5).done;
  assert.notEqual(oldCarol.code, 0, "carol's old UUID no longer works");
  const newCarol = await curl(await clientFor(carol2), '/hello').done;
  assert.equal(newCarol.code, 0, newCarol.stderr);
  await assert.rejects(server.apply([alice, { id: 'x', secret: 'not-a-uuid' }]), (e: any) => e.code === 'invalid_argument');
  await assert.rejects(server.apply([alice, alice]), (e: any) => e.code === 'invalid_argument');
  assert.deepEqual(await server.actual(), ['dev-alice', 'dev-carol']);
});

test('drift: a user removed through the API behind the driver\'s back is seen and repaired', async () => {
  const { repairDrift } = await import('../../../src/gateway/proxies/sync.js');
  const r = await net.kit.exec(net.gw, ['xray', 'api', 'rmu', '-s=127.0.0.1:10085', '-tag=damm-vless', 'dev-alice']);
  assert.match(r.stdout, /Removed 1 user/);
  assert.deepEqual(await server.actual(), ['dev-carol']);
  const carol2 = { id: 'dev-carol', secret: carolNow };
  assert.equal(await repairDrift(server, [alice, carol2]), true);
  assert.deepEqual(await server.actual(), ['dev-alice', 'dev-carol']);
  const a = await curl(aliceSocks, '/hello').done;
  assert.equal(a.code, 0, a.stderr);
  assert.equal(await repairDrift(server, [alice, carol2]), false);
});
