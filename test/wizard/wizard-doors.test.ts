/**
 * The wizard lists every door of the device's gateway (issue 11, point 5),
 * in real Chromium against a real control plane on Postgres. The gateway has
 * two lanes: lane 0 plain WireGuard on UDP 51820 and 443 (two catalog doors,
 * one key), lane 1 AmneziaWG with parameters drawn by generateAwgParams.
 * Each door is a tab, in words, plain WireGuard first and open; each has its
 * own config (parsed here and compared with the signed catalog's door), its
 * own file, its own QR code and its own steps; the tabs work from the
 * keyboard; a language switch keeps the open door; the connection test
 * names the door being looked at.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import QRCode from 'qrcode';
import type { Page } from 'playwright-core';
import { generateAwgParams } from '../../src/core/amneziawg.js';
import type { AwgParams, CatalogPayload, FrontDoor } from '../../src/core/api-schemas.js';
import { offsetInPools } from '../../src/core/ipam.js';
import { EN } from '../../src/wizard/messages/en.js';
import { wgKeyPair } from '../helpers/keys.js';
import { parseAwgConf } from '../helpers/awg-conf.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { lowContrastTexts, newPage, useBrowser, VIEWPORTS } from '../helpers/browser.js';

const browser = await useBrowser();
const HOST = '192.0.2.20';
const LANE0_KEY = wgKeyPair().publicKey;
const LANE1_KEY = wgKeyPair().publicKey;
// A parameter set with an I1, so the test covers the optional key too.
const PARAMS: AwgParams = generateAwgParams((n) => randomBytes(n));
const TUNNEL_FILE = /^[a-zA-Z0-9_=+.-]{1,15}\.conf$/;
// Screenshots kept in the repository are refreshed on purpose (DAMM_UPDATE_SCREENS=1), not by every run.
const SCREENS = path.resolve(process.env['DAMM_UPDATE_SCREENS'] ? 'docs/screens' : 'test-artifacts/wizard');
const ru = JSON.parse(readFileSync('src/wizard/messages/ru.json', 'utf8')) as Record<string, string>;

let cp: TestControlPlane;
let catalogDoors: FrontDoor[];

before(async () => {
  cp = await startTestControlPlane({ config: { gatewayOfflineAfterSeconds: 3600, mintLimitPerHour: 100 } });
  const add = await cp.op('POST', '/v1/operator/gateways', { region: 'NL', country: 'NL' });
  assert.equal(add.status, 201);
  const reg = await cp.call('POST', '/v1/gateways/register', {
    registrationToken: add.body.registrationToken,
    doors: [
      { lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: LANE0_KEY, params: null, endpoints: [{ host: HOST, port: 51820 }, { host: HOST, port: 443 }] },
      { lane: 1, protocol: 'amneziawg', tier: 'T1', publicKey: LANE1_KEY, params: PARAMS, endpoints: [{ host: HOST, port: 51821 }] },
    ],
    egressIps: [HOST],
  });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const env = await cp.call('GET', '/v1/catalog');
  catalogDoors = (JSON.parse(Buffer.from(env.body.payload, 'base64').toString('utf8')) as CatalogPayload).frontDoors;
  assert.equal(catalogDoors.length, 3, 'three doors signed into the catalog');
  assert.ok(PARAMS.i1, 'generated parameters carry an I1');
});
after(() => cp?.stop());

/** The [Interface] and [Peer] keys of a config, as `key -> value` per section. */
function sections(conf: string): { iface: Map<string, string>; peer: Map<string, string> } {
  const out = { iface: new Map<string, string>(), peer: new Map<string, string>() };
  let cur: Map<string, string> | null = null;
  for (const line of conf.split('\n')) {
    if (line === '[Interface]') cur = out.iface;
    else if (line === '[Peer]') cur = out.peer;
    else if (line.trim()) {
      const eq = line.indexOf(' = ');
      assert.ok(cur && eq > 0, `config line outside a section or not "key = value": ${line}`);
      assert.ok(!cur.has(line.slice(0, eq)), `key twice: ${line}`);
      cur.set(line.slice(0, eq), line.slice(eq + 3));
    }
  }
  return out;
}

/** Dark cells of the QR as drawn in the page's SVG path (as wizard-flow reads them). */
async function assertQrIs(page: Page, conf: string): Promise<void> {
  const svg = page.locator('#qr svg');
  const modules = QRCode.create(conf, { errorCorrectionLevel: 'M' }).modules;
  assert.equal(await svg.getAttribute('viewBox'), `0 0 ${modules.size + 8} ${modules.size + 8}`);
  const drawn = new Set<string>();
  for (const m of ((await svg.locator('path').getAttribute('d')) ?? '').matchAll(/M(\d+) (\d+)h(\d+)v1h-\d+z/g)) {
    for (let i = 0; i < Number(m[3]); i++) drawn.add(`${Number(m[2]) - 4},${Number(m[1]) - 4 + i}`);
  }
  let dark = 0;
  for (let r = 0; r < modules.size; r++) {
    for (let c = 0; c < modules.size; c++) {
      const want = !!modules.get(r, c);
      dark += want ? 1 : 0;
      assert.equal(drawn.has(`${r},${c}`), want, `QR module ${r},${c}`);
    }
  }
  assert.equal(drawn.size, dark);
}

async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENS, { recursive: true });
  const before = page.viewportSize();
  for (const [size, vp] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(vp);
    await page.screenshot({ path: path.join(SCREENS, `${name}-${size}.png`), fullPage: true });
  }
  if (before) await page.setViewportSize(before);
}

async function enroll(page: Page): Promise<void> {
  await page.goto(`${cp.url}/get/`);
  await page.locator('#posture-catalog[data-verified="true"]').waitFor();
  await page.locator('#go').click();
  await page.locator('#result').waitFor({ state: 'visible' });
}

const tabs = (page: Page) => page.locator('#doors [role="tab"]');

test('three doors in words, plain WireGuard first and open; each with its own config from the signed catalog, file, QR and steps', async () => {
  const page = await newPage(browser);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await enroll(page);

  assert.deepEqual(await tabs(page).allInnerTexts(), ['WireGuard, UDP 51820', 'WireGuard, UDP 443', 'AmneziaWG, for networks that block WireGuard']);
  assert.equal(await page.locator('#doors').getAttribute('role'), 'tablist');
  assert.equal(await page.locator('#doors').getAttribute('aria-label'), EN['door.listLabel']);
  assert.deepEqual(await tabs(page).evaluateAll((ts) => ts.map((t) => t.getAttribute('aria-selected'))), ['true', 'false', 'false']);
  assert.equal(await page.locator('#door-panel').getAttribute('role'), 'tabpanel');
  assert.equal(await page.locator('#door-panel').getAttribute('aria-labelledby'), 'door-tab-0 import-h');
  await shoot(page, 'wizard-doors-wireguard');

  const expected = [
    { endpoint: `${HOST}:51820`, key: LANE0_KEY, protocol: 'wireguard', file: 'damm-NL.conf', app: 'WireGuard' },
    { endpoint: `${HOST}:443`, key: LANE0_KEY, protocol: 'wireguard', file: 'damm-NL-443.conf', app: 'WireGuard' },
    { endpoint: `${HOST}:51821`, key: LANE1_KEY, protocol: 'amneziawg', file: 'damm-NL-awg.conf', app: 'AmneziaWG' },
  ];
  const offsets = new Set<number>();
  const files: string[] = [];
  let privateKey = '';
  for (const [i, want] of expected.entries()) {
    await tabs(page).nth(i).click();
    assert.equal(await tabs(page).nth(i).getAttribute('aria-selected'), 'true');
    const doorId = await page.locator('#door-panel').getAttribute('data-door');
    const door = catalogDoors.find((d) => d.id === doorId)!;
    assert.ok(door, 'the panel shows a door of the signed catalog');
    assert.equal(door.endpoint, want.endpoint);
    assert.equal(door.protocol, want.protocol);
    const conf = await page.locator('#conf').inputValue();
    const { iface, peer } = sections(conf);

    // The peer is the catalog's door: its endpoint and its lane's key.
    assert.equal(peer.get('Endpoint'), door.endpoint);
    assert.equal(peer.get('PublicKey'), want.key);
    assert.equal(peer.get('PublicKey'), door.publicKey);
    // The address lies inside this door's signed tunnel prefixes, at one offset on every lane.
    const m = /^(\S+)\/32, (\S+)\/128$/.exec(iface.get('Address') ?? '');
    assert.ok(m, `Address line: ${iface.get('Address')}`);
    const offset = offsetInPools(door.tunnel, { ipv4: m[1]!, ipv6: m[2]! });
    assert.notEqual(offset, null, `address ${m[1]} ${m[2]} inside ${JSON.stringify(door.tunnel)}`);
    offsets.add(offset!);
    // One key pair for every door.
    privateKey ||= iface.get('PrivateKey')!;
    assert.equal(iface.get('PrivateKey'), privateKey);

    const awgKeys = [...iface.keys()].filter((k) => !['PrivateKey', 'Address', 'DNS', 'MTU'].includes(k));
    if (want.protocol === 'amneziawg') {
      const names = ['Jc', 'Jmin', 'Jmax', 'S1', 'S2', 'S3', 'S4', 'H1', 'H2', 'H3', 'H4', ...(PARAMS.i1 ? ['I1'] : [])];
      assert.deepEqual(awgKeys.sort(), names.sort(), 'exactly the keys the AmneziaWG apps read');
      for (const k of names) assert.equal(iface.get(k), String(door.params![k.toLowerCase() as keyof AwgParams]), `${k} is the catalog's value`);
      assert.deepEqual(door.params, PARAMS, 'the catalog carries the registered parameters');
      // The apps' own parser accepts it (an unknown key would be "Line unrecognized").
      assert.ok(parseAwgConf(conf).uapi.includes(`jc=${PARAMS.jc}`));
    } else {
      assert.deepEqual(awgKeys, [], 'no AmneziaWG key in a plain WireGuard config');
      assert.equal(iface.has('MTU'), false);
    }

    // Its own file, named for the apps, holding exactly this config.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
    assert.match(download.suggestedFilename(), TUNNEL_FILE);
    assert.equal(download.suggestedFilename(), want.file);
    assert.equal(readFileSync(await download.path(), 'utf8'), conf);
    files.push(download.suggestedFilename());

    // Its own QR code, exactly this config; its app named around it.
    await assertQrIs(page, conf);
    assert.equal(await page.locator('#qr svg').getAttribute('aria-label'), `QR code of your ${want.app} configuration "${want.file.slice(0, -5)}"`);
    assert.equal(await page.locator('#import-h').innerText(), `Import it into ${want.app}`);
    assert.match(await page.locator('#qr-caption').innerText(), new RegExp(`^Scan with the ${want.app} app`));
  }
  assert.equal(offsets.size, 1, 'the same offset in every door');
  assert.equal(new Set(files).size, 3, 'distinct file names');

  // The AmneziaWG door's steps are the AmneziaWG apps' (Linux preselected in headless Chromium, then iPhone).
  assert.match(await page.locator('#steps').innerText(), /sudo awg-quick up damm-NL-awg/);
  assert.match(await page.locator('#steps').innerText(), /\/etc\/amnezia\/amneziawg\/damm-NL-awg\.conf/);
  await page.getByLabel('iPhone / iPad').check();
  assert.match(await page.locator('#steps').innerText(), /Install the AmneziaWG app from the App Store/);
  await page.getByLabel('Windows').check();
  assert.match(await page.locator('#steps').innerText(), /amnezia\.org[\s\S]*Import tunnel\(s\) from file" and pick damm-NL-awg\.conf/);
  await shoot(page, 'wizard-doors-amneziawg');
  // And the plain door's steps are still WireGuard's.
  await tabs(page).nth(0).click();
  assert.match(await page.locator('#steps').innerText(), /wireguard\.com\/install/);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  assert.deepEqual(errors, []);
  await page.context().close();
});

test('the tabs work from the keyboard, a language switch keeps the open door and re-words it, and the test names the open door', async () => {
  const page = await newPage(browser, { viewport: VIEWPORTS.phone });
  await enroll(page);
  await tabs(page).nth(0).focus();
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'door-tab-1');
  assert.equal(await tabs(page).nth(1).getAttribute('aria-selected'), 'true');
  assert.equal(await page.locator('#door-panel').getAttribute('aria-labelledby'), 'door-tab-1 import-h');
  assert.match(await page.locator('#conf').inputValue(), /^Endpoint = 192\.0\.2\.20:443$/m);
  assert.deepEqual(await tabs(page).evaluateAll((ts) => ts.map((t) => (t as HTMLElement).tabIndex)), [-1, 0, -1], 'one tab stop: the open tab');
  await page.keyboard.press('End');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'door-tab-2');
  await page.keyboard.press('Home');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'door-tab-0');
  await page.keyboard.press('ArrowLeft'); // wraps round to the last
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'door-tab-2');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'door-tab-1');

  // "Test my connection" on the 443 door names that tunnel and port, and points at the AmneziaWG door.
  await page.locator('#test').click();
  const result = page.locator('#test-result[data-verdict="not-through-damm"]');
  await result.waitFor();
  const words = await result.innerText();
  assert.match(words, /open WireGuard, switch on "damm-NL-443"/);
  assert.match(words, /\(port 443\)/);
  assert.ok(words.includes(EN['test.awgHere']));

  // The AmneziaWG door, then Russian: the same door stays open, re-worded; the same config.
  await tabs(page).nth(2).click();
  const conf = await page.locator('#conf').inputValue();
  await page.locator('#test').click();
  await page.locator('#test-result[data-verdict="not-through-damm"]', { hasText: 'open AmneziaWG, switch on "damm-NL-awg"' }).waitFor();
  const awgWords = await page.locator('#test-result').innerText();
  assert.match(awgWords, /\(port 51821\)/);
  assert.doesNotMatch(awgWords, /T1|AmneziaWG door above/, 'on the obfuscated door itself, no other obfuscated door is suggested');
  await page.locator('#lang').selectOption('ru');
  await page.waitForFunction((h1) => document.documentElement.lang === 'ru' && document.querySelector('h1')?.textContent === h1, ru['page.h1']);
  assert.deepEqual(await tabs(page).allInnerTexts(), ['WireGuard, UDP-порт 51820', 'WireGuard, UDP-порт 443', ru['door.awg']]);
  assert.equal(await tabs(page).nth(2).getAttribute('aria-selected'), 'true');
  assert.equal(await page.locator('#conf').inputValue(), conf);
  assert.equal(await page.locator('#import-h').innerText(), 'Добавьте его в AmneziaWG');
  assert.match(await page.locator('#test-result').innerText(), /откройте AmneziaWG, включите «damm-NL-awg»/);
  assert.match(await page.locator('#steps').innerText(), /awg-quick up damm-NL-awg/);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no horizontal scrolling on a phone');
  await shoot(page, 'wizard-doors-ru');

  // Persian, right to left: the tabs' arrows follow the reading direction (the left arrow goes on to the next door).
  await page.locator('#lang').selectOption('fa');
  await page.waitForFunction(() => document.documentElement.dir === 'rtl');
  assert.equal(await tabs(page).nth(2).getAttribute('aria-selected'), 'true');
  await tabs(page).nth(0).click();
  await tabs(page).nth(0).focus();
  await page.keyboard.press('ArrowLeft');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'door-tab-1');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'door-tab-0');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no horizontal scrolling in Persian either');
  assert.deepEqual(await lowContrastTexts(page), [], 'tabs readable: text contrast ≥ 4.5:1');
  await page.context().close();
});
