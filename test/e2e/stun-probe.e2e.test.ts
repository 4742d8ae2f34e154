/**
 * The wizard's UDP reachability probe, for real: headless Chromium in a
 * client namespace runs src/wizard/probes.ts (bundled as the wizard bundles
 * it), whose RTCPeerConnection sends a STUN Binding request to a WireGuard
 * door's own host and port; on the gateway, the agent's nftables rules
 * (gateway/agent/host.ts redirectCommands) steer it to the STUN responder
 * (gateway/agent/stun-responder.ts), and WireGuard on the same port keeps
 * carrying the tunnel. With UDP to the door port dropped on the client's
 * path, the probe says so, while the alternate port still answers.
 *
 *   [cl] chromium, wireguard-go   10.231.0.2 ── 10.231.0.1   [gw] wireguard-go :51820 (+ :4443 redirected),
 *                                                                STUN responder, nft table damm_<if>
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { NetnsKit, runOk, type WireguardGoHandle } from '../helpers/netns.js';
import { CHROMIUM, requireChromium } from '../helpers/browser.js';
import { wgKeyPair } from '../helpers/keys.js';
import { until } from '../helpers/wait.js';
import { ping, REPO } from './kit.js';
import { redirectCommands } from '../../src/gateway/agent/host.js';

const GW = '10.231.0.1';
const CL = '10.231.0.2';
const LISTEN = 51820;
const ALT = 4443;
const STUN_PORT = 3479;

let kit: NetnsKit;
let gw: string;
let cl: string;
let gwWg: WireguardGoHandle;
let browser: Browser;
let page: Page;
let responder: ChildProcess;
let responderLog = '';
let tmp: string;

before(async () => {
  requireChromium();
  kit = new NetnsKit();
  gw = await kit.namespace();
  cl = await kit.namespace();
  await kit.veth(gw, `${GW}/24`, cl, `${CL}/24`);
  tmp = await mkdtemp(path.join(tmpdir(), 'damm-stun-'));

  // A WireGuard tunnel on the door port: it must keep working beside the probe responder.
  gwWg = await kit.startWireguardGo(gw);
  const clWg = await kit.startWireguardGo(cl);
  const g = wgKeyPair();
  const c = wgKeyPair();
  await writeFile(path.join(tmp, 'g.key'), g.privateKey, { mode: 0o600 });
  await writeFile(path.join(tmp, 'c.key'), c.privateKey, { mode: 0o600 });
  await runOk(['ip', 'netns', 'exec', gw, 'wg', 'set', gwWg.ifname, 'private-key', path.join(tmp, 'g.key'), 'listen-port', String(LISTEN), 'peer', c.publicKey, 'allowed-ips', '10.232.0.2/32']);
  await runOk(['ip', 'netns', 'exec', cl, 'wg', 'set', clWg.ifname, 'private-key', path.join(tmp, 'c.key'), 'peer', g.publicKey, 'allowed-ips', '10.232.0.1/32', 'endpoint', `${GW}:${LISTEN}`]);
  await runOk(['ip', '-n', gw, 'addr', 'add', '10.232.0.1/24', 'dev', gwWg.ifname]);
  await runOk(['ip', '-n', cl, 'addr', 'add', '10.232.0.2/24', 'dev', clWg.ifname]);
  await runOk(['ip', '-n', gw, 'link', 'set', gwWg.ifname, 'up']);
  await runOk(['ip', '-n', cl, 'link', 'set', clWg.ifname, 'up']);

  // The agent's table for this interface, with the probe steering, exactly as the agent builds it.
  for (const args of redirectCommands(gwWg.ifname, LISTEN, [ALT], { port: STUN_PORT, doorPorts: [LISTEN, ALT] }).create) await runOk(['ip', 'netns', 'exec', gw, 'nft', ...args]);
  const script = `import { startStunResponder } from './src/gateway/agent/stun-responder.ts';
const r = await startStunResponder({ port: ${STUN_PORT} });
console.log('ready ' + r.port);
setInterval(() => console.log('counts ' + JSON.stringify(r.counts())), 100);`;
  responder = spawn('ip', ['netns', 'exec', gw, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  responder.stdout!.on('data', (b: Buffer) => (responderLog = (responderLog + b.toString()).slice(-4000)));
  responder.stderr!.on('data', (b: Buffer) => (responderLog = (responderLog + b.toString()).slice(-4000)));
  await until('the STUN responder listens', () => responderLog.includes(`ready ${STUN_PORT}`) || undefined, 20_000, 50);

  // Chromium inside the client namespace, running the wizard's probe module as the wizard bundles it.
  const wrapper = path.join(tmp, 'chromium-in-ns');
  await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${cl} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  page = await (await browser.newContext()).newPage();
  const bundle = await build({ entryPoints: [path.join(REPO, 'src/wizard/probes.ts')], bundle: true, format: 'iife', globalName: 'dammProbes', write: false, target: 'es2022' });
  await page.setContent('<!doctype html><title>probe</title>');
  await page.addScriptTag({ content: bundle.outputFiles[0]!.text });
});

after(async () => {
  await browser?.close();
  responder?.kill('SIGKILL');
  await kit?.cleanup();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const probe = (port: number, timeoutMs = 3000) =>
  page.evaluate(([host, p, t]) => (globalThis as any).dammProbes.probeUdpDoor(host, p, t), [GW, port, timeoutMs] as const) as Promise<{ reachable: boolean; ms: number | null }>;

function answered(): number {
  const last = [...responderLog.matchAll(/counts (\{[^\n]*\})/g)].pop();
  return last ? JSON.parse(last[1]!).answered : 0;
}

test('the browser\'s STUN probe to the WireGuard door port gets an answer, and the tunnel on that port keeps working', async () => {
  assert.ok(await ping(kit, cl, '10.232.0.1', 10), 'WireGuard carries pings before any probe');
  const before = answered();
  const listen = await probe(LISTEN);
  assert.equal(listen.reachable, true);
  assert.ok(listen.ms !== null && listen.ms < 3000);
  const alt = await probe(ALT);
  assert.equal(alt.reachable, true, 'the alternate door port answers too (its STUN rule comes before its redirect)');
  await until('the responder counted both probes', () => answered() >= before + 2 || undefined, 5000, 50);
  assert.ok(await ping(kit, cl, '10.232.0.1', 5), 'WireGuard still carries pings after the probes');
});

test('a port with no door gets no answer: the probe can say unreachable', async () => {
  const r = await probe(LISTEN + 1, 2000);
  assert.deepEqual(r, { reachable: false, ms: null });
});

test('with UDP to the door port dropped on the client\'s network, the probe says unreachable there and reachable on the alternate port', async () => {
  await runOk(['ip', 'netns', 'exec', cl, 'nft', 'add', 'table', 'inet', 'hostile']);
  await runOk(['ip', 'netns', 'exec', cl, 'nft', 'add', 'chain', 'inet', 'hostile', 'out', '{', 'type', 'filter', 'hook', 'output', 'priority', '0', ';', '}']);
  await runOk(['ip', 'netns', 'exec', cl, 'nft', 'add', 'rule', 'inet', 'hostile', 'out', 'udp', 'dport', String(LISTEN), 'counter', 'drop']);
  try {
    assert.deepEqual(await probe(LISTEN, 2000), { reachable: false, ms: null });
    assert.equal((await probe(ALT)).reachable, true);
    const counters = await runOk(['ip', 'netns', 'exec', cl, 'nft', 'list', 'chain', 'inet', 'hostile', 'out']);
    assert.match(counters, /counter packets [1-9]/, 'the probe really was dropped on the way');
  } finally {
    await runOk(['ip', 'netns', 'exec', cl, 'nft', 'delete', 'table', 'inet', 'hostile']);
  }
});
