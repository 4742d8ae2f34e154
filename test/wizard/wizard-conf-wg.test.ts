/**
 * The .conf the wizard downloads is accepted by the real WireGuard tools:
 * `wg-quick strip` (which also insists the file name is a valid interface
 * name) and then `wg setconf` on a wireguard-go interface in a throwaway
 * network namespace; the interface then holds exactly the key pair and peer
 * the page produced.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { x25519 } from '@noble/curves/ed25519.js';
import { registerTestGateway, startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { newPage, recordTraffic, renderedPrivateKey, useBrowser } from '../helpers/browser.js';
import { runOk, useNetnsKit } from '../helpers/netns.js';

const kit = useNetnsKit(); // fails (never skips) without root, wireguard-go, wg
const browser = await useBrowser();
const GATEWAY_KEY = Buffer.from(x25519.getPublicKey(x25519.utils.randomSecretKey())).toString('base64');
let cp: TestControlPlane;
let dir: string;

before(async () => {
  cp = await startTestControlPlane({ config: { gatewayOfflineAfterSeconds: 3600 } });
  await registerTestGateway(cp, { region: 'NL', country: 'NL', publicKey: GATEWAY_KEY, host: '192.0.2.10', port: 51820 });
  dir = await mkdtemp(path.join(tmpdir(), 'damm-wizard-conf-'));
});
after(async () => {
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the downloaded .conf passes wg-quick strip and wg setconf on a wireguard-go interface', async () => {
  const page = await newPage(browser);
  const traffic = recordTraffic(page);
  await page.goto(`${cp.url}/get/`);
  await page.locator('#go').click();
  await page.locator('#result').waitFor({ state: 'visible' });
  const privateKey = await renderedPrivateKey(page);
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
  const file = path.join(dir, download.suggestedFilename());
  await download.saveAs(file);
  await chmod(file, 0o600);
  const enrolled = (await traffic.settled()).find((e) => e.url.endsWith('/v1/enroll'))!;
  const { publicKey } = JSON.parse(enrolled.requestBody);
  const res = JSON.parse(enrolled.responseBody);
  await page.context().close();

  // wg-quick strip: drops Address/DNS (wg-quick's own keys) and checks the file name is an interface name.
  const stripped = await runOk(['wg-quick', 'strip', file]);
  assert.doesNotMatch(stripped, /^(Address|DNS)\s*=/m);
  const strippedFile = path.join(dir, 'stripped.conf');
  await writeFile(strippedFile, stripped, { mode: 0o600 });

  const ns = await kit.namespace();
  const wg = await kit.startWireguardGo(ns);
  const set = await kit.exec(ns, ['wg', 'setconf', wg.ifname, strippedFile]);
  assert.equal(set.code, 0, `wg setconf refused the wizard's config: ${set.stderr}`);

  // What the interface now holds is what the page made and the service gave.
  const show = async (...what: string[]) => (await kit.exec(ns, ['wg', 'show', wg.ifname, ...what])).stdout.trim();
  assert.equal(await show('private-key'), privateKey);
  assert.equal(await show('public-key'), publicKey, 'the enrolled public key belongs to the private key in the .conf');
  assert.equal(await show('peers'), GATEWAY_KEY);
  assert.equal(await show('endpoints'), `${GATEWAY_KEY}\t192.0.2.10:51820`);
  assert.equal(await show('allowed-ips'), `${GATEWAY_KEY}\t0.0.0.0/0 ::/0`);
  assert.equal(await show('persistent-keepalive'), `${GATEWAY_KEY}\t25`);
  assert.equal(res.frontDoor.publicKey, GATEWAY_KEY);
});
