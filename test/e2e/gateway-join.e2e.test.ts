/**
 * `damm gateway add` → `damm gateway join` on a fresh host, in a network
 * namespace, up to where systemd would take over: the join code travels on
 * stdin, every preflight check passes, the env file, sysctls and units are
 * written and pass `systemd-analyze verify`; then the two units' ExecStart
 * lines are run the way systemd would run them (wireguard-go -f <if>, and the
 * agent's command with the env file's variables substituted and its
 * StateDirectory placed under the prefix) and the gateway registers.
 *
 * Each refusal the issue names (wrong pin, port in use, no CAP_NET_ADMIN, no
 * wireguard-go, clock skew, plus a mangled code) is one sentence and leaves
 * the install prefix empty.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import http from 'node:http';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NetnsKit, run, uniqueIfName } from '../helpers/netns.js';
import { REPO, rootVeth, within } from './kit.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { DAMM_BIN, requireBuiltCli, runDamm } from '../helpers/cli.js';
import { decodeJoinCode, encodeJoinCode, type JoinCode } from '../../src/core/join-code.js';
import { freePort } from '../../src/io/process.js';
import { verifyUnits } from '../../src/io/systemd-verify.js';
import { until } from '../helpers/wait.js';
import { randomFillSync } from 'node:crypto';
import { parseStunMappedAddress } from '../../src/core/stun.js';
import { spawn, type ChildProcess } from 'node:child_process';

let kit: NetnsKit;
let ns: string;
let cp: TestControlPlane;
let cpUrl: string;
let gwRoot: string;
let gwInner: string;
const prefixes: string[] = [];
const children: ChildProcess[] = [];

before(async () => {
  await requireBuiltCli();
  kit = new NetnsKit(); // throws, never skips, when root, wireguard-go, wg or nft is missing
  ns = await kit.namespace();
  const { root, inner } = await rootVeth(ns);
  gwRoot = root;
  gwInner = inner;
  const port = await freePort();
  cpUrl = `http://${root}:${port}`;
  // The URL the join code carries is the one the service says it is reached at.
  cp = await startTestControlPlane({ host: '0.0.0.0', port, config: { publicUrl: cpUrl } });
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await cp?.stop();
  await kit?.cleanup();
  for (const p of prefixes) await rm(p, { recursive: true, force: true });
});

async function newPrefix(): Promise<string> {
  const p = await mkdtemp(path.join(tmpdir(), 'damm-join-'));
  prefixes.push(p);
  return p;
}

/** The operator's side, through the CLI: the printed join code. */
async function addGateway(): Promise<string> {
  const r = await runDamm(['gateway', 'add', '--region', 'NL', '--country', 'NL', '--url', cp.url, '--token', cp.operatorToken], {});
  assert.match(r.stdout, /damm gateway join --endpoint/);
  assert.doesNotMatch(r.stdout, /damm gateway join[^\n]*dg_/, 'the token is not on the suggested command line');
  const code = /^(dj1\.[A-Za-z0-9_-]+)$/m.exec(r.stdout)?.[1];
  assert.ok(code, r.stdout);
  return code;
}

function join(args: string[], stdin: string, o: { ns?: string; wrap?: string[] } = {}) {
  const argv = [...(o.wrap ?? []), process.execPath, DAMM_BIN, 'gateway', 'join', ...args];
  return run(o.ns ? ['ip', 'netns', 'exec', o.ns, ...argv] : argv, { stdin: `${stdin}\n`, timeoutMs: 60_000 });
}

/** The unit's ExecStart as an argument vector, with ${VAR} taken from its EnvironmentFile. */
function execStart(unit: string, env: Map<string, string>): string[] {
  const m = /^ExecStart=((?:.*\\\n)*.*)$/m.exec(unit);
  assert.ok(m, 'unit has an ExecStart');
  return m[1]!.replace(/\\\n/g, ' ').trim().split(/\s+/).map((w) => w.replace(/\$\{([A-Z0-9_]+)\}/g, (_all, k: string) => {
    const v = env.get(k);
    assert.ok(v !== undefined, `ExecStart uses ${k}, which the env file does not set`);
    return v;
  }));
}

test('join on a fresh host: preflight passes, files and units are installed and verify, and the units\' commands register the gateway', async () => {
  const code = await addGateway();
  const prefix = await newPrefix();
  const ifname = uniqueIfName('dj');
  const r = await join(['--endpoint', '192.0.2.77', '--interface', ifname, '--prefix', prefix, '--damm', DAMM_BIN], code, { ns });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /units verified/);
  assert.match(r.stdout, /not started/);
  assert.doesNotMatch(r.stdout + r.stderr, /dg_/, 'the token is never printed');

  const envFile = path.join(prefix, 'etc/damm/gateway.env');
  assert.equal((await stat(envFile)).mode & 0o777, 0o600);
  assert.equal((await stat(path.dirname(envFile))).mode & 0o777, 0o700);
  const env = new Map([...(await readFile(envFile, 'utf8')).matchAll(/^([A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
  const decoded = decodeJoinCode(code);
  assert.equal(env.get('DAMM_GATEWAY_TOKEN'), decoded.token);
  assert.equal(env.get('DAMM_ROOT_SHA256'), decoded.rootSha256);
  assert.equal(env.get('DAMM_CONTROL_PLANE'), cpUrl);
  assert.equal(env.get('DAMM_ENDPOINT'), '192.0.2.77:51820');
  assert.match(await readFile(path.join(prefix, 'etc/sysctl.d/99-damm-gateway.conf'), 'utf8'), /^net\.ipv4\.ip_forward = 1$/m);
  const unitDir = path.join(prefix, 'etc/systemd/system');
  const agentUnit = await readFile(path.join(unitDir, 'damm-gateway.service'), 'utf8');
  const daemonUnit = await readFile(path.join(unitDir, 'damm-wireguard-go@.service'), 'utf8');
  assert.match(agentUnit, new RegExp(`^Requires=damm-wireguard-go@${ifname}\\.service$`, 'm'));
  const verified = await verifyUnits([path.join(unitDir, 'damm-gateway.service'), path.join(unitDir, 'damm-wireguard-go@.service')], {
    executables: [DAMM_BIN, '/usr/bin/wireguard-go'],
    instance: ifname,
  });
  assert.deepEqual(verified, { code: 0, output: '' });

  // From here systemd would take over. Run what the units run.
  const daemon = execStart(daemonUnit.replaceAll('%i', ifname), env);
  assert.deepEqual(daemon, ['/usr/bin/wireguard-go', '-f', ifname]);
  await kit.startWireguardGo(ns, ifname);
  const agentArgv = execStart(agentUnit, env);
  assert.equal(agentArgv[0], DAMM_BIN);
  const stateDir = agentArgv.indexOf('--state-dir');
  agentArgv[stateDir + 1] = path.join(prefix, agentArgv[stateDir + 1]!); // StateDirectory=, placed under the prefix
  const agent = spawn('ip', ['netns', 'exec', ns, process.execPath, ...agentArgv], { env: { ...process.env, ...Object.fromEntries(env) }, cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(agent);
  let log = '';
  agent.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  agent.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  await within(30_000, 'the agent registers', until('registration', () => /registered with the control plane/.test(log) || undefined, 30_000, 100));
  const gateways = (await cp.op('GET', '/v1/operator/gateways')).body.gateways as any[];
  const mine = gateways.find((g) => g.doors.some((d: any) => d.endpoints.some((e: any) => e.host === '192.0.2.77')));
  assert.ok(mine, JSON.stringify(gateways));
  assert.equal(mine.registered, true);
  assert.equal(mine.online, true);

  // The unit turns on the agent's metrics (loopback) and the wizard's probe responder: both answer.
  assert.ok(agentArgv.includes('--metrics-listen') && agentArgv.includes('--probe-port'), agentArgv.join(' '));
  const metrics = await until('the agent serves its metrics', async () => {
    const r = await run(['ip', 'netns', 'exec', ns, 'curl', '-sf', 'http://127.0.0.1:9469/metrics']);
    return r.code === 0 && /^damm_agent_control_plane_up 1$/m.test(r.stdout) ? r.stdout : undefined;
  }, 30_000, 200);
  assert.match(metrics, /^damm_agent_feed_revision \d+$/m);
  assert.match(metrics, /^damm_agent_feed_answered_timestamp_seconds \d/m);
  // A STUN Binding request to the WireGuard door's own port (51820) comes back from that port with our address.
  const probe = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => probe.bind(0, resolve));
    const request = Buffer.alloc(20);
    request.writeUInt16BE(0x0001, 0);
    request.writeUInt32BE(0x2112a442, 4);
    randomFillSync(request, 8, 12);
    const answer = await within(10_000, 'a STUN answer from the door port', new Promise<{ msg: Buffer; port: number }>((resolve) => {
      probe.on('message', (msg, rinfo) => resolve({ msg, port: rinfo.port }));
      const send = () => probe.send(request, 51820, gwInner);
      send();
      const again = setInterval(send, 500);
      probe.once('message', () => clearInterval(again));
    }));
    assert.equal(answer.port, 51820, 'the answer comes from the door port itself');
    assert.deepEqual(parseStunMappedAddress(answer.msg), { address: gwRoot, port: probe.address().port });
  } finally {
    probe.close();
  }
  agent.kill('SIGTERM');
});

/** Runs a join that must be refused; returns its stderr after checking nothing was installed. */
async function refused(args: string[], stdin: string, o: { ns?: string; wrap?: string[] } = {}): Promise<string> {
  const prefix = await newPrefix();
  const r = await join([...args, '--prefix', prefix], stdin, o);
  assert.notEqual(r.code, 0, r.stdout);
  assert.deepEqual(await readdir(prefix), [], 'a refused join writes nothing');
  assert.doesNotMatch(r.stdout + r.stderr, /dg_[A-Za-z0-9_-]{22}/, 'the token is never printed');
  return r.stderr;
}

test('a join code for another service (wrong pin) is refused before anything is written', async () => {
  const code = decodeJoinCode(await addGateway());
  const other: JoinCode = { ...code, rootSha256: code.rootSha256.replace(/^./, (c) => (c === '0' ? '1' : '0')) };
  const err = await refused(['--endpoint', '192.0.2.78'], encodeJoinCode(other), { ns });
  assert.match(err, /serves a different root of trust than this join code pins.*ask its operator for a new join code\. \[wrong_pin\]/);
});

test('a UDP port already in use is named', async () => {
  const code = await addGateway();
  const held: Socket = createSocket('udp4');
  const port = await new Promise<number>((resolve) => held.bind(0, () => resolve(held.address().port)));
  try {
    const err = await refused(['--endpoint', '192.0.2.79', '--listen-port', String(port)], code);
    assert.match(err, new RegExp(`UDP port ${port} is already in use on this host.*\\[port_in_use\\]`));
  } finally {
    held.close();
  }
});

test('no CAP_NET_ADMIN (root with the capability dropped) is named', async () => {
  const code = await addGateway();
  const err = await refused(['--endpoint', '192.0.2.80'], code, { wrap: ['setpriv', '--inh-caps=-net_admin', '--bounding-set=-net_admin'] });
  assert.match(err, /does not hold CAP_NET_ADMIN.*--cap-add NET_ADMIN\. \[cap_net_admin\]/);
});

test('a missing wireguard-go is named with how to install it', async () => {
  const code = await addGateway();
  const err = await refused(['--endpoint', '192.0.2.81', '--wireguard-go', '/nonexistent/wireguard-go'], code);
  assert.match(err, /wireguard-go is not installed at \/nonexistent\/wireguard-go.*apt-get install wireguard-go.*\[daemon_missing\]/);
});

test('a clock ten minutes off the control plane\'s is named (seen through a proxy that reports a skewed Date)', async () => {
  const code = decodeJoinCode(await addGateway());
  const target = new URL(cp.url);
  const proxy = http.createServer((req, res) => {
    const up = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, { ...r.headers, date: new Date(Date.now() + 600_000).toUTCString() });
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  try {
    const port = (proxy.address() as { port: number }).port;
    const err = await refused(['--endpoint', '192.0.2.82'], encodeJoinCode({ ...code, controlPlane: `http://127.0.0.1:${port}` }));
    assert.match(err, /This host's clock is (59\d|60\d) s behind the control plane's.*time sync.*\[clock_skew\]/);
  } finally {
    proxy.close();
  }
});

test('a mangled join code is refused with a sentence, and so is an unreachable control plane', async () => {
  const mangled = await refused(['--endpoint', '192.0.2.83'], 'dj1.not-a-code');
  assert.match(mangled, /That is not a DAMM join code \(it does not decode\)/);
  const code = decodeJoinCode(await addGateway());
  const closed = await freePort();
  const err = await refused(['--endpoint', '192.0.2.84'], encodeJoinCode({ ...code, controlPlane: `http://127.0.0.1:${closed}` }));
  assert.match(err, /Cannot reach the control plane at http:\/\/127\.0\.0\.1:\d+.*\[control_plane_unreachable\]/);
});
