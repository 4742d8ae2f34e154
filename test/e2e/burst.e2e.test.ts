/**
 * Burst: 2,000 enrollments fired at once at two control-plane processes
 * (`damm serve` ×2, one Postgres, one data directory so they share the
 * admission key) end with exactly those 2,000 peers on a real wireguard-go
 * interface driven by `damm gateway run`: none missing, none extra, each
 * with its own addresses; and on the gateway's second lane (another
 * wireguard-go interface, --wg-lane-port) the same peers at the same
 * offsets in that lane's prefixes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { NetnsKit, type WireguardGoHandle } from '../helpers/netns.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';
import { activeLines, damm, fetchWithin, peerLines, sleep, wgShow, within, type Proc } from './kit.js';
import { until } from '../gateway/kit.js';
import { lanePools, mapToLane, parsePools } from '../../src/core/ipam.js';

const N = 2000;

// All N requests are issued at once; the client keeps at most 256 sockets per
// control plane open and queues the rest, as a real crowd behind NAT or a
// load balancer would. (A socket per request overflowed the listen backlog
// on a loaded machine and stalled the run in SYN retries.)
const client = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** One enrollment; bounded from the moment it is issued, also while it waits in the agent's queue for a socket. */
function postJson(url: string, body: unknown, boundMs = 120_000): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const bound = setTimeout(() => req.destroy(new Error(`no answer from ${url} within ${boundMs} ms of issuing the request (queued for a socket or in flight)`)), boundMs);
    const req = http.request(url, { method: 'POST', agent: client, timeout: 60_000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        clearTimeout(bound);
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`socket to ${url} idle for 60 s`)));
    req.on('error', (err) => (clearTimeout(bound), reject(err)));
    req.end(data);
  });
}

let kit: NetnsKit;
let database: TestDatabase;
let cps: Proc[] = [];
let urls: string[] = [];
let agent: Proc;
let wgIf: WireguardGoHandle;
let wgIf2: WireguardGoHandle; // lane 2
let gwNs: string;
let operatorToken: string;
const dirs: string[] = [];

async function op(method: string, p: string, body?: unknown): Promise<any> {
  const res = await fetchWithin(`${urls[0]}${p}`, {
    method,
    headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

before(async () => {
  kit = new NetnsKit(); // throws, never skips, without root / wireguard-go / wg
  database = await createTestDatabase();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'damm-burst-cp-'));
  const gwState = await mkdtemp(path.join(tmpdir(), 'damm-burst-gw-'));
  dirs.push(dataDir, gwState);
  for (let i = 0; i < 2; i++) {
    // One after the other: the first initialises the data directory, the second reuses its keys.
    const p = damm(null, ['serve', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0'], { DATABASE_URL: database.url, DAMM_LOG_LEVEL: 'warn' });
    const line = await p.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+/, 60_000);
    cps.push(p);
    urls.push(/(http:\/\/127\.0\.0\.1:\d+)/.exec(line)![1]!);
  }
  operatorToken = (await readFile(path.join(dataDir, 'operator-token'), 'utf8')).trim();
  gwNs = await kit.namespace();
  wgIf = await kit.startWireguardGo(gwNs);
  wgIf2 = await kit.startWireguardGo(gwNs);
  const gw = await op('POST', '/v1/operator/gateways', { region: 'NL', country: 'NL' });
  // The agent runs beside the control planes and drives the daemon through its UAPI socket.
  agent = damm(null, ['gateway', 'run', '--control-plane', urls[0]!, '--interface', wgIf.ifname, '--listen-port', '51821',
    '--wg-lane-port', '51823', '--wg-lane-interface', wgIf2.ifname,
    '--endpoint', '192.0.2.10:51821', '--egress-ip', '192.0.2.10', '--state-dir', gwState, '--no-manage-addresses', '--log-level', 'info'],
  { DAMM_GATEWAY_TOKEN: gw.registrationToken });
  await agent.waitFor(/gateway agent running/, 60_000);
});

after(async () => {
  client.destroy();
  // Every step runs even when one before it fails or overruns (a skipped kit
  // cleanup would leave wireguard-go holding this process open).
  const steps: [string, () => Promise<unknown>][] = [
    ['the agent to die', async () => agent?.kill('SIGKILL')],
    ['the control planes to die', async () => { for (const p of cps) await p.kill('SIGKILL'); }],
    ['the test database to be dropped', async () => database?.close()],
    ['the temporary directories to be removed', async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); }],
    ['namespaces and wireguard-go to be torn down', async () => kit?.cleanup()],
  ];
  const errors: unknown[] = [];
  for (const [what, step] of steps) await within(60_000, what, step()).catch((err) => errors.push(err));
  if (errors.length) throw new AggregateError(errors, 'burst teardown');
});

test(`${N} concurrent enrollments at two control-plane processes end with exactly those ${N} peers on the gateway`, { timeout: 240_000 }, async () => {
  const invites: string[] = [];
  for (let i = 0; i < 20; i++) invites.push((await op('POST', '/v1/operator/invites', { uses: N / 20 })).token);
  const keys = Array.from({ length: N }, () => wgKeyPair().publicKey);
  const t0 = Date.now();
  const results = await Promise.all(
    keys.map(async (publicKey, i) => {
      const { status, body } = await postJson(`${urls[i % 2]}/v1/enroll`, { installPass: invites[i % 20], publicKey, region: 'NL' });
      assert.equal(status, 201, JSON.stringify(body));
      return body as { deviceId: string; addresses: { ipv4: string; ipv6: string } };
    }),
  );
  const enrolledMs = Date.now() - t0;
  const want = keys.map((k, i) => `${k} ${[`${results[i]!.addresses.ipv4}/32`, `${results[i]!.addresses.ipv6}/128`].sort().join(',')}`).sort();
  assert.equal(new Set(results.map((r) => r.addresses.ipv4)).size, N, 'each device has its own IPv4');
  assert.equal(new Set(results.map((r) => r.addresses.ipv6)).size, N, 'each device has its own IPv6');
  let have: string[] = [];
  await until(
    `${N} peers on ${wgIf.ifname}`,
    async () => {
      have = peerLines(await wgShow(kit, gwNs, wgIf.ifname));
      return have.length >= N || undefined;
    },
    60_000,
    100,
  ).catch(() => undefined); // the comparison below says what is missing
  const liveMs = Date.now() - t0;
  const missing = want.filter((l) => !have.includes(l));
  const extra = have.filter((l) => !want.includes(l));
  assert.deepEqual({ missing: missing.length, extra: extra.length }, { missing: 0, extra: 0 }, JSON.stringify({ missing: missing.slice(0, 3), extra: extra.slice(0, 3) }));
  assert.deepEqual(have, await activeLines(database.db), 'wg show equals the active devices');
  const perProcess = [0, 1].map((p) => results.filter((_, i) => i % 2 === p).length);
  console.log(`# ${N} enrollments (${perProcess.join(' + ')} per process) answered in ${enrolledMs} ms; all ${N} peers live on the interface ${liveMs} ms after the first request`);
  // Still exactly the same a moment later: nothing is applied twice or late
  // (an observation window, not synchronisation).
  await sleep(500);
  assert.deepEqual(peerLines(await wgShow(kit, gwNs, wgIf.ifname)), want);

  // Lane 2: the same keys, each at its offset in 10.68.0.0/16 and the IPv6 prefix shifted likewise.
  const base = { ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd0d:a44d:66::/64' };
  const [from, to] = [parsePools(base), parsePools(lanePools(base, 2))];
  const want2 = want.map((l) => {
    const [key, prefixes] = l.split(' ');
    return `${key} ${mapToLane(from, to, prefixes!.split(',')).sort().join(',')}`;
  }).sort();
  let have2: string[] = [];
  await until(`${N} peers on lane 2 (${wgIf2.ifname})`, async () => {
    have2 = peerLines(await wgShow(kit, gwNs, wgIf2.ifname));
    return have2.length >= N || undefined;
  }, 60_000, 100).catch(() => undefined);
  assert.deepEqual(
    { missing: want2.filter((l) => !have2.includes(l)).length, extra: have2.filter((l) => !want2.includes(l)).length },
    { missing: 0, extra: 0 },
    'lane 2 holds exactly the same devices at their lane-2 addresses',
  );
});
