/**
 * End to end, on real networks: Chromium runs inside a client network
 * namespace and gets its config from the wizard; the tunnel is brought up
 * from that very .conf to a gateway namespace where the real agent
 * (`damm gateway run`) drives wireguard-go; then "Test my connection" in the
 * same page must report that traffic arrives through DAMM.
 *
 *   root ns (control plane on A.1) ── veth ── GW ns (A.2; agent, wireguard-go, NAT)
 *      │                                         │ veth (B.1 ⇄ B.2): the UDP path
 *      └── veth (C.1 ⇄ C.2): the way in before the tunnel ── CLIENT ns (Chromium, wireguard-go)
 *
 * Before the tunnel the client reaches the control plane directly (C.2) and
 * the test must say "not through DAMM"; after, its traffic leaves the gateway
 * masqueraded as A.2, the gateway's registered egress address.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { chromium } from 'playwright-core';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { CHROMIUM, recordTraffic, renderedPrivateKey, requireBuiltWizard, requireChromium, screenshots } from '../helpers/browser.js';
import { runOk, stopChild, uniqueIfName, useNetnsKit } from '../helpers/netns.js';

const kit = useNetnsKit(); // fails (never skips) without root, wireguard-go, wg
requireChromium();
requireBuiltWizard();

const CLI = path.resolve('dist/cli/main.js');
if (!existsSync(CLI)) throw new Error('dist/cli/main.js is missing: run `npm run build` before the wizard tests.');
const net = `10.${randomInt(100, 250)}.${randomInt(0, 63) * 4}`; // three /24s: x.y.z, x.y.z+1, x.y.z+2
const [a, b, c] = [0, 1, 2].map((i) => net.replace(/\.(\d+)$/, (_m, z: string) => `.${Number(z) + i}`));
const A = { root: `${a}.1`, gw: `${a}.2` };
const B = { gw: `${b}.1`, client: `${b}.2` };
const C = { root: `${c}.1`, client: `${c}.2` };

let cp: TestControlPlane | null = null;
let agent: ChildProcess | null = null;
let dir = '';
const agentLog: string[] = [];

after(async () => {
  if (agent) await stopChild(agent, 3000);
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A veth from the root namespace into `ns`; deleting `ns` (kit cleanup) deletes both ends. */
async function rootVeth(ns: string, rootCidr: string, nsCidr: string): Promise<{ rootIf: string; nsIf: string }> {
  const rootIf = uniqueIfName('ve');
  const nsIf = uniqueIfName('ve');
  await runOk(['ip', 'link', 'add', rootIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', ns]);
  await runOk(['ip', 'addr', 'add', rootCidr, 'dev', rootIf]);
  await runOk(['ip', 'link', 'set', rootIf, 'up']);
  await runOk(['ip', '-n', ns, 'addr', 'add', nsCidr, 'dev', nsIf]);
  await runOk(['ip', '-n', ns, 'link', 'set', nsIf, 'up']);
  return { rootIf, nsIf };
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nagent log:\n${agentLog.join('').slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('tunnel up from the wizard’s own .conf: "Test my connection" reports success through DAMM', { timeout: 120_000 }, async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'damm-wizard-e2e-'));
  const gwNs = await kit.namespace();
  const clientNs = await kit.namespace();
  const toGw = await rootVeth(gwNs, `${A.root}/24`, `${A.gw}/24`);
  await kit.veth(gwNs, `${B.gw}/24`, clientNs, `${B.client}/24`);
  await rootVeth(clientNs, `${C.root}/24`, `${C.client}/24`);
  await runOk(['ip', '-n', clientNs, 'route', 'add', `${A.root}/32`, 'via', C.root]); // the way in before the tunnel

  // Control plane on the root end of the gateway's link.
  cp = await startTestControlPlane({ host: A.root });

  // The gateway: wireguard-go in its namespace, the real agent driving it.
  const gwWg = await kit.startWireguardGo(gwNs);
  const add = await cp.op('POST', '/v1/operator/gateways', { region: 'NL', country: 'NL' });
  assert.equal(add.status, 201, JSON.stringify(add.body));
  const tokenFile = path.join(dir, 'gateway-token');
  await writeFile(tokenFile, add.body.registrationToken, { mode: 0o600 });
  agent = spawn(
    'ip',
    ['netns', 'exec', gwNs, process.execPath, CLI, 'gateway', 'run',
      '--control-plane', cp.url, '--token-file', tokenFile, '--interface', gwWg.ifname, '--listen-port', '51820',
      '--endpoint', `${B.gw}:51820`, '--egress-ip', A.gw, '--state-dir', path.join(dir, 'gw-state'),
      '--nat', '--egress-interface', toGw.nsIf, '--heartbeat-interval', '5', '--reconcile-interval', '5', '--log-level', 'info'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  agent.stdout!.on('data', (d: Buffer) => agentLog.push(d.toString()));
  agent.stderr!.on('data', (d: Buffer) => agentLog.push(d.toString()));
  await until('the gateway to register and come online', async () => {
    if (agent!.exitCode !== null) throw new Error(`agent exited ${agent!.exitCode}:\n${agentLog.join('')}`);
    const p = await cp!.call('GET', '/v1/posture');
    return p.body.status === 'ok';
  });

  // Chromium inside the client namespace: a two-line wrapper puts it there.
  const wrapper = path.join(dir, 'chromium-in-ns');
  await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${clientNs} ${CHROMIUM} "$@"\n`);
  await chmod(wrapper, 0o700);
  const browser = await chromium.launch({
    executablePath: wrapper,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const traffic = recordTraffic(page);
    await page.goto(`${cp.url}/get/`);
    await page.locator('#go').click();
    await page.locator('#result').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#result').getAttribute('data-key-source'), 'noble', 'plain http on a LAN address: no crypto.subtle');

    // Before the tunnel: honestly "not through DAMM".
    await page.locator('#test').click();
    await page.locator('#test-result[data-verdict="not-through-damm"]').waitFor();
    assert.match(await page.locator('#test-result').innerText(), new RegExp(`DAMM sees you at ${C.client.replace(/\./g, '\\.')}`));

    // The gateway admits the device from the change feed.
    const { publicKey } = JSON.parse((await traffic.settled()).find((e) => e.url.endsWith('/v1/enroll'))!.requestBody);
    await until('the agent to add the device as a peer', async () => (await kit.exec(gwNs, ['wg', 'show', gwWg.ifname, 'peers'])).stdout.includes(publicKey));

    // The tunnel, from the .conf the page downloaded: what wg-quick up would do, by hand.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
    const confFile = path.join(dir, download.suggestedFilename());
    await download.saveAs(confFile);
    await chmod(confFile, 0o600);
    const conf = await readFile(confFile, 'utf8');
    assert.equal(/^PrivateKey = (\S+)$/m.exec(conf)?.[1], await renderedPrivateKey(page));
    const address = /^Address = ([0-9.]+)\/32/m.exec(conf)![1]!;
    const stripped = path.join(dir, 'stripped.conf');
    await writeFile(stripped, await runOk(['wg-quick', 'strip', confFile]), { mode: 0o600 });
    const clientWg = await kit.startWireguardGo(clientNs);
    await runOk(['ip', 'netns', 'exec', clientNs, 'wg', 'setconf', clientWg.ifname, stripped]);
    await runOk(['ip', '-n', clientNs, 'addr', 'add', `${address}/32`, 'dev', clientWg.ifname]);
    await runOk(['ip', '-n', clientNs, 'link', 'set', clientWg.ifname, 'up']);
    await runOk(['ip', '-n', clientNs, 'route', 'del', `${A.root}/32`]);
    await runOk(['ip', '-n', clientNs, 'route', 'add', 'default', 'dev', clientWg.ifname]); // AllowedIPs 0.0.0.0/0

    // After: the same page, the same button.
    await page.locator('#test').click();
    const ok = page.locator('#test-result[data-verdict="through-damm"]');
    await ok.waitFor();
    const text = await ok.innerText();
    assert.match(text, /Yes: your traffic arrives through DAMM/);
    assert.match(text, /Exit: Netherlands \(NL\), through gateway \S+ \(NL\)/);
    assert.match(text, new RegExp(`Websites see you at ${A.gw.replace(/\./g, '\\.')}`));
    assert.match(text, /Round trip to DAMM: \d+ ms/);
    const handshake = (await kit.exec(clientNs, ['wg', 'show', clientWg.ifname, 'latest-handshakes'])).stdout.trim().split('\t')[1];
    assert.ok(Number(handshake) > 0, 'a WireGuard handshake happened');
    await screenshots(page, '12-e2e-tunnel-through-damm');
    await context.close();
  } finally {
    await browser.close();
  }
});
