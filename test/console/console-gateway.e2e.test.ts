/**
 * Revoking from the console removes a real peer: a gateway namespace runs
 * wireguard-go driven by the real agent (`damm gateway run`), a device
 * enrolls and its peer appears on the interface, an operator revokes it in
 * the console in Chromium, and the peer leaves the interface.
 *
 *   root ns: control plane (0.0.0.0), Chromium at http://127.0.0.1 ── veth ── GW ns (agent, wireguard-go)
 *
 * The browser uses 127.0.0.1 and the agent the veth address: the session
 * cookie is Secure, which Chromium keeps over plain HTTP only on loopback
 * (docs/console.md).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { newPage, useBrowser } from '../helpers/browser.js';
import { runOk, stopChild, uniqueIfName, useNetnsKit, type WireguardGoHandle } from '../helpers/netns.js';
import { wgKeyPair } from '../helpers/keys.js';
import { until } from '../helpers/wait.js';

const kit = useNetnsKit(); // fails (never skips) without root, wireguard-go, wg
const browser = await useBrowser();
const CLI = path.resolve('dist/cli/main.js');
if (!existsSync(CLI)) throw new Error('dist/cli/main.js is missing: run `npm run build` first.');
const net = `10.${randomInt(100, 250)}.${randomInt(64, 127) * 2}`;
const A = { root: `${net}.1`, gw: `${net}.2` };

let cp: TestControlPlane;
let agent: ChildProcess | null = null;
let gwNs = '';
let gwWg: WireguardGoHandle;
let dir = '';
const agentLog: string[] = [];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'damm-console-e2e-'));
  gwNs = await kit.namespace();
  const rootIf = uniqueIfName('ve');
  const nsIf = uniqueIfName('ve');
  await runOk(['ip', 'link', 'add', rootIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', gwNs]);
  await runOk(['ip', 'addr', 'add', `${A.root}/24`, 'dev', rootIf]);
  await runOk(['ip', 'link', 'set', rootIf, 'up']);
  await runOk(['ip', '-n', gwNs, 'addr', 'add', `${A.gw}/24`, 'dev', nsIf]);
  await runOk(['ip', '-n', gwNs, 'link', 'set', nsIf, 'up']);

  cp = await startTestControlPlane({ host: '0.0.0.0' });
  const port = new URL(cp.url).port;
  gwWg = await kit.startWireguardGo(gwNs);
  const add = await cp.op('POST', '/v1/operator/gateways', { region: 'NL', country: 'NL' });
  assert.equal(add.status, 201, JSON.stringify(add.body));
  const tokenFile = path.join(dir, 'gateway-token');
  await writeFile(tokenFile, add.body.registrationToken, { mode: 0o600 });
  agent = spawn(
    'ip',
    ['netns', 'exec', gwNs, process.execPath, CLI, 'gateway', 'run',
      '--control-plane', `http://${A.root}:${port}`, '--token-file', tokenFile, '--interface', gwWg.ifname, '--listen-port', '51820',
      '--endpoint', `${A.gw}:51820`, '--egress-ip', A.gw, '--state-dir', path.join(dir, 'gw-state'),
      '--heartbeat-interval', '2', '--reconcile-interval', '2', '--log-level', 'info'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  agent.stdout!.on('data', (d: Buffer) => agentLog.push(d.toString()));
  agent.stderr!.on('data', (d: Buffer) => agentLog.push(d.toString()));
  await until('the gateway to register and come online', async () => {
    if (agent!.exitCode !== null) throw new Error(`agent exited ${agent!.exitCode}:\n${agentLog.join('')}`);
    return (await cp.call('GET', '/v1/posture')).body.status === 'ok';
  }, 30_000, 200);
});

after(async () => {
  if (agent) await stopChild(agent, 3000);
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function peersOnInterface(): Promise<string[]> {
  const r = await kit.exec(gwNs, ['wg', 'show', gwWg.ifname, 'peers']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test('a device revoked in the console leaves the real wireguard-go interface of its gateway', { timeout: 120_000 }, async () => {
  const inv = await cp.op('POST', '/v1/operator/invites', { note: 'e2e laptop' });
  const kp = wgKeyPair();
  const enrolled = await cp.call('POST', '/v1/enroll', { installPass: inv.body.token, publicKey: kp.publicKey });
  assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
  const id = enrolled.body.deviceId as string;
  await until('the peer on the gateway interface', async () => (await peersOnInterface()).includes(kp.publicKey), 30_000, 100);

  const page = await newPage(browser);
  await page.goto(`http://127.0.0.1:${new URL(cp.url).port}/console/#devices`);
  await page.locator('#token').fill(cp.operatorToken);
  await page.keyboard.press('Enter');
  const row = page.locator(`tr[data-device="${id}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /e2e laptop/);
  await row.locator('button[data-action="revoke"]').click();
  const started = Date.now();
  await page.locator('#confirm-ok').click();
  await page.locator('#flash', { hasText: `Revoked device ${id.slice(0, 8)}` }).waitFor();
  await until('the peer to leave the gateway interface', async () => !(await peersOnInterface()).includes(kp.publicKey), 30_000, 20);
  const ms = Date.now() - started;
  assert.equal((await cp.op('GET', `/v1/operator/devices?q=${id}`)).body.devices[0].state, 'revoked');
  const audit = await cp.op('GET', `/v1/operator/audit?subject=device:${id}&action=device.revoked`);
  assert.equal(audit.body.entries[0].actor, 'operator:test');
  console.log(`peer left the interface within ${ms} ms of the Confirm click`);
  await page.context().close();
});
