/**
 * outline-ss-server driven by src/gateway/proxies/outline-ss.ts, for real:
 * the server in a gateway namespace, Outline's own SDK client (outline-fetch,
 * from outline-sdk/x examples) in a client namespace with the exact ss://
 * key src/core/proxy-config.ts renders, fetching a web server beside the
 * gateway (TCP) and asking a DNS responder there (UDP, outline-resolve). A reload adds and removes keys while another key's transfer is
 * in progress.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { OutlineSsServer } from '../../../src/gateway/proxies/outline-ss.js';
import { shadowsocksAccessKey } from '../../../src/core/proxy-config.js';
import { proxyNet, runClient } from './kit.js';
import { until } from '../../helpers/wait.js';

const net = await proxyNet(71);
const port = 8443;
const secret = () => randomBytes(32).toString('base64url');
const alice = { id: 'dev-alice', secret: secret() };
const bob = { id: 'dev-bob', secret: secret() };
const carol = { id: 'dev-carol', secret: secret() };

const server = new OutlineSsServer({
  configPath: path.join(net.dir, 'outline-ss.yml'),
  listeners: { address: `${net.gwIp}:${port}` },
  metricsAddress: `${net.gwMgmtIp}:9091`,
  command: ['ip', 'netns', 'exec', net.gw, 'outline-ss-server'],
});
after(() => server.stop());

const keyOf = (u: { secret: string }) => shadowsocksAccessKey({ host: net.gwIp, port, secret: u.secret, name: 'DAMM test' });
// outline-fetch prints the body and then a newline of its own.
const body = (r: { stdout: Buffer }) => r.stdout.subarray(0, r.stdout.length - 1);
const fetchVia = (u: { secret: string }, urlPath: string, timeoutS = 30) =>
  runClient(net.client, ['outline-fetch', '-timeout', String(timeoutS), '-transport', keyOf(u), `http://${net.gwIp}:${net.targetPort}${urlPath}`]);

test('a key the server holds reaches the web target; bytes are counted per key', async () => {
  await server.start([alice, bob]);
  assert.deepEqual(await server.actual(), ['dev-alice', 'dev-bob']);
  const { statSync } = await import('node:fs');
  assert.equal(statSync(path.join(net.dir, 'outline-ss.yml')).mode & 0o777, 0o600, 'the config holds secrets: owner only');
  const r = await fetchVia(alice, '/bytes/200000').done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(body(r).length, 200000);
  const c = await until('alice counted', async () => {
    const m = (await server.counters()).get('dev-alice');
    return m && m.txBytes >= 200000n ? m : undefined;
  });
  assert.ok(c.rxBytes > 0n);
  assert.equal((await server.counters()).get('dev-bob'), undefined, 'bob sent nothing');
});

test('UDP on the same port: a DNS query through the key reaches a resolver beside the gateway, and is counted', async () => {
  const { fileURLToPath } = await import('node:url');
  const dns = net.spawnIn(net.gw, [process.execPath, fileURLToPath(new URL('./dns-target.mjs', import.meta.url)), net.gwIp, '5353'], 'dns target');
  await dns.waitForLine(/^listening/, 0, 15_000);
  const r = await runClient(net.client, ['outline-resolve', '-timeout', '5', '-transport', keyOf(bob), '-resolver', `${net.gwIp}:5353`, 'door.px.test']).done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.toString(), /192\.0\.2\.77/);
  await dns.waitForLine(/answered/, 0, 5000);
  const c = await until('bob counted over UDP', async () => {
    const m = (await server.counters()).get('dev-bob');
    return m && m.rxBytes > 0n && m.txBytes > 0n ? m : undefined;
  });
  assert.ok(c.txBytes >= 16n);
});

test('a key it does not hold is refused', async () => {
  const r = await fetchVia(carol, '/hello', 5).done;
  assert.notEqual(r.code, 0);
  assert.doesNotMatch(r.stdout.toString(), /hello through the door/);
});

test('reload adds carol and removes bob while alice streams: alice completes, carol works, bob is refused', async () => {
  const chunks = 120; // 120 × 16 KiB at one every 25 ms: ~3 s in flight
  const since = net.target.mark();
  const stream = fetchVia(alice, `/slow/${chunks}/25`, 60);
  await net.target.waitForLine(/slow-started/, since, 15_000);
  await until('alice has received bytes', () => stream.received() > 0);
  await server.apply([alice, carol]);
  assert.deepEqual(await server.actual(), ['dev-alice', 'dev-carol']);
  assert.ok(stream.received() < chunks * 16384, 'the reload happened mid-transfer');

  const c = await fetchVia(carol, '/hello').done;
  assert.equal(c.code, 0, c.stderr);
  assert.equal(body(c).toString(), 'hello through the door');
  const b = await fetchVia(bob, '/hello', 5).done;
  assert.notEqual(b.code, 0, 'bob was removed');

  const a = await stream.done;
  assert.equal(a.code, 0, a.stderr);
  assert.equal(body(a).length, chunks * 16384, 'alice got every byte across the reload');
});

test('bad input is refused before anything is written; the server keeps its keys', async () => {
  await assert.rejects(server.apply([alice, { id: 'bad id with spaces', secret: secret() }]), (e: any) => e.code === 'invalid_argument');
  await assert.rejects(server.apply([alice, { id: 'short', secret: 'abc' }]), (e: any) => e.code === 'invalid_argument');
  await assert.rejects(server.apply([alice, alice]), (e: any) => e.code === 'invalid_argument');
  assert.deepEqual(await server.actual(), ['dev-alice', 'dev-carol']);
});

test('drift: a config swapped and reloaded behind the driver\'s back is seen and repaired', async () => {
  const { writeFileSync } = await import('node:fs');
  const { renderOutlineSsConfig } = await import('../../../src/gateway/proxies/outline-ss.js');
  const { repairDrift } = await import('../../../src/gateway/proxies/sync.js');
  const desired = [alice, carol];
  writeFileSync(path.join(net.dir, 'outline-ss.yml'), renderOutlineSsConfig({ address: `${net.gwIp}:${port}` }, [alice]));
  process.kill(server.pid!, 'SIGHUP');
  await until('the server dropped carol', async () => (await fetchVia(carol, '/hello', 3).done).code !== 0, 15_000);
  await assert.rejects(server.actual(), (e: any) => e.code === 'internal', 'the driver sees the drift');
  assert.equal(await repairDrift(server, desired), true);
  assert.deepEqual(await server.actual(), ['dev-alice', 'dev-carol']);
  const c = await fetchVia(carol, '/hello').done;
  assert.equal(c.code, 0, c.stderr);
  assert.equal(await repairDrift(server, desired), false, 'nothing more to repair');
});
