/**
 * The /get/ wizard in real Chromium against a real control plane: the whole
 * flow in public mode and with an invite, on desktop and on a phone, with
 * every request and response inspected for the private key.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { x25519 } from '@noble/curves/ed25519.js';
import QRCode from 'qrcode';
import type { Page } from 'playwright-core';
import { registerTestGateway, startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { IPHONE_UA, keySpellings, lowContrastTexts, newPage, recordTraffic, renderedPrivateKey, screenshots, useBrowser, VIEWPORTS, type Exchange } from '../helpers/browser.js';
import { WIZARD_CSP } from '../../src/control-plane/routes/wizard.js';

const GATEWAY_KEY = Buffer.from(x25519.getPublicKey(x25519.utils.randomSecretKey())).toString('base64');
const TUNNEL_FILE = /^[a-zA-Z0-9_=+.-]{1,15}\.conf$/;

const browser = await useBrowser();
let cp: TestControlPlane;

before(async () => {
  cp = await startTestControlPlane({ config: { gatewayOfflineAfterSeconds: 3600, mintLimitPerHour: 100 } });
  await registerTestGateway(cp, { region: 'NL', country: 'NL', publicKey: GATEWAY_KEY, host: '192.0.2.10', egressIps: ['192.0.2.10'] });
});
after(() => cp?.stop());

/** Opens the wizard, creates a connection, and returns the page with its recorded traffic. */
async function runFlow(page: Page, url: string) {
  const traffic = recordTraffic(page);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.locator('#posture-catalog[data-verified]').waitFor();
  await page.locator('#go').click();
  await page.locator('#result').waitFor({ state: 'visible' });
  return { traffic, errors };
}

function assertNoSecretAnywhere(exchanges: Exchange[], secret: string, where: string[]) {
  for (const spelling of keySpellings(secret)) {
    for (const ex of exchanges) {
      assert.ok(!ex.url.includes(spelling), `private key in URL ${ex.url}`);
      assert.ok(!ex.requestBody.includes(spelling), `private key in request body to ${ex.url}`);
      assert.ok(!ex.responseBody.includes(spelling), `private key in response body from ${ex.url}`);
      assert.ok(!JSON.stringify(ex.requestHeaders).includes(spelling), `private key in request headers to ${ex.url}`);
    }
    for (const w of where) assert.ok(!w.includes(spelling), 'private key in console or server log');
  }
}

/** Dark cells of the QR as drawn in the page's SVG path (runs of `M x y h n v1 h-n z`). */
function drawnCells(d: string, quiet: number): Set<string> {
  const cells = new Set<string>();
  for (const m of d.matchAll(/M(\d+) (\d+)h(\d+)v1h-\d+z/g)) {
    for (let i = 0; i < Number(m[3]); i++) cells.add(`${Number(m[2]) - quiet},${Number(m[1]) - quiet + i}`);
  }
  return cells;
}

test('public mode: key made in the page, pass minted, enrolled, config rendered, and the private key never leaves the page', async () => {
  const page = await newPage(browser);
  await page.goto(`${cp.url}/get/`);
  await page.locator('#posture-catalog[data-verified="true"]').waitFor();
  // No pin in the link: the root is trusted on first use from this server, and the panel says so.
  assert.equal(await page.locator('#posture-catalog').getAttribute('data-pin'), 'server');
  assert.match(await page.locator('#posture-catalog').innerText(), /checked in this page against the service's root of trust \(version 1\)\. The root of trust was taken on first use from this server\./);
  assert.ok(await page.locator('#tofu-note').isVisible(), 'trust on first use is said above the button');
  await screenshots(page, '01-start');
  const { traffic, errors } = await runFlow(page, `${cp.url}/get/`);
  await screenshots(page, '02-ready-desktop-linux');

  const conf = await page.locator('#conf').inputValue();
  const privateKey = await renderedPrivateKey(page);
  const exchanges = await traffic.settled();

  // Only this origin, and exactly the expected API calls.
  for (const ex of exchanges) assert.ok(ex.url.startsWith(`${cp.url}/`), `third-party or unexpected request: ${ex.url}`);
  const api = exchanges.filter((e) => e.url.includes('/v1/')).map((e) => `${e.method} ${new URL(e.url).pathname}`);
  assert.deepEqual(api.filter((a) => a.startsWith('POST')), ['POST /v1/install-passes', 'POST /v1/enroll']);

  // The enrolled public key is the one that belongs to the private key in the config.
  const enrollEx = exchanges.find((e) => e.url.endsWith('/v1/enroll'))!;
  const enrollBody = JSON.parse(enrollEx.requestBody);
  assert.deepEqual(Object.keys(enrollBody).sort(), ['installPass', 'publicKey']);
  assert.equal(enrollBody.publicKey, Buffer.from(x25519.getPublicKey(Buffer.from(privateKey, 'base64'))).toString('base64'));
  assertNoSecretAnywhere(exchanges, privateKey, [...traffic.console, ...cp.logs]);
  assert.deepEqual(errors, []);
  // A clean flow logs no console error: the root chain walk stops at the latest version GET /v1/trust names, without a 404.
  assert.deepEqual(traffic.consoleErrors, []);
  assert.deepEqual(exchanges.filter((e) => e.status !== null && e.status >= 400).map((e) => `${e.status} ${e.url}`), []);
  assert.ok(api.includes('GET /v1/trust/root/1.json'), 'the walk ran in this flow');
  assert.equal(await page.locator('#result').getAttribute('data-key-source'), 'webcrypto', 'localhost is a secure origin: WebCrypto X25519 is used');

  // The config: every line the issue asks for.
  const enrolled = JSON.parse(enrollEx.responseBody);
  assert.match(conf, /^\[Interface\]\nPrivateKey = [A-Za-z0-9+/]{43}=\n/);
  assert.match(conf, new RegExp(`^Address = ${enrolled.addresses.ipv4}/32, ${enrolled.addresses.ipv6}/128$`, 'm'));
  assert.match(conf, /^DNS = 9\.9\.9\.9, 149\.112\.112\.112$/m);
  assert.match(conf, new RegExp(`^PublicKey = ${GATEWAY_KEY.replace(/[+/]/g, '\\$&')}$`, 'm'));
  assert.match(conf, /^Endpoint = 192\.0\.2\.10:51820$/m);
  assert.match(conf, /^AllowedIPs = 0\.0\.0\.0\/0, ::\/0$/m);
  assert.match(conf, /^PersistentKeepalive = 25$/m);

  // One door: no tabs, the panel is the import card itself.
  assert.equal(await page.locator('#doors').isVisible(), false);
  assert.equal(await page.locator('#door-panel').getAttribute('role'), null);

  // Download: a name WireGuard apps accept, holding exactly the config.
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
  assert.match(download.suggestedFilename(), TUNNEL_FILE);
  assert.equal(download.suggestedFilename(), 'damm-NL.conf');
  assert.equal(readFileSync(await download.path(), 'utf8'), conf);

  // QR: drawn in the page, screen-reader label, and exactly the encoder's modules for this config.
  const svg = page.locator('#qr svg');
  assert.equal(await svg.getAttribute('role'), 'img');
  assert.match((await svg.getAttribute('aria-label')) ?? '', /QR code of your WireGuard configuration/);
  const modules = QRCode.create(conf, { errorCorrectionLevel: 'M' }).modules;
  assert.equal(await svg.getAttribute('viewBox'), `0 0 ${modules.size + 8} ${modules.size + 8}`);
  const drawn = drawnCells((await svg.locator('path').getAttribute('d')) ?? '', 4);
  let dark = 0;
  for (let r = 0; r < modules.size; r++) {
    for (let c = 0; c < modules.size; c++) {
      const want = !!modules.get(r, c);
      dark += want ? 1 : 0;
      assert.equal(drawn.has(`${r},${c}`), want, `QR module ${r},${c}`);
    }
  }
  assert.equal(drawn.size, dark);

  // Honest placement.
  const placement = await page.locator('#placement').innerText();
  assert.match(placement, /You asked for\s+any exit/);
  assert.match(placement, /You got\s+exit Netherlands \(NL\)/);
  assert.match(placement, /Why\s+No preference given/);

  // Allowance (public tier: 10 GiB).
  assert.match(await page.locator('#usage').innerText(), /Up to 10 GB per period/);

  // Steps preselected from the user agent (headless Chromium on Linux), switchable by hand.
  assert.equal(await page.locator('input[name="platform"]:checked').getAttribute('value'), 'linux');
  assert.match(await page.locator('#steps').innerText(), /sudo wg-quick up damm-NL/);
  await page.getByLabel('Windows').check();
  assert.match(await page.locator('#steps').innerText(), /Import tunnel\(s\) from file/);
  await page.keyboard.press('ArrowLeft'); // radio group: arrows move between platforms
  assert.equal(await page.locator('input[name="platform"]:checked').getAttribute('value'), 'macos');
  await screenshots(page, '03-ready-desktop-mac-steps');

  // Nothing kept: no cookies, no web storage; the page's focus moved to the result.
  assert.equal(await page.evaluate(() => document.cookie), '');
  assert.deepEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length]), [0, 0]);
  assert.deepEqual(await page.context().cookies(), []);
  for (const ex of exchanges) assert.equal(ex.responseHeaders['set-cookie'], undefined, `cookie set by ${ex.url}`);
  await page.context().close();
});

test('the page is served with a strict CSP, no referrer, no cookies and cache headers; CSP is never violated', async () => {
  const page = await newPage(browser);
  const { traffic } = await runFlow(page, `${cp.url}/get/`);
  const exchanges = await traffic.settled();
  const html = exchanges.find((e) => new URL(e.url).pathname === '/get/')!;
  assert.equal(html.responseHeaders['content-security-policy'], WIZARD_CSP);
  assert.equal(
    WIZARD_CSP,
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  );
  assert.equal(html.responseHeaders['referrer-policy'], 'no-referrer');
  assert.equal(html.responseHeaders['x-content-type-options'], 'nosniff');
  assert.equal(html.responseHeaders['cache-control'], 'no-cache');
  const assets = exchanges.filter((e) => e.url.includes('/get/assets/'));
  assert.equal(assets.length, 2, 'one script, one stylesheet');
  for (const a of assets) {
    assert.equal(a.responseHeaders['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(a.responseHeaders['content-security-policy'], WIZARD_CSP);
  }
  for (const ex of exchanges) assert.ok(!ex.requestHeaders['referer'], `referrer sent to ${ex.url}: ${ex.requestHeaders['referer']}`);
  assert.deepEqual(traffic.console.filter((c) => /Content Security Policy|Refused to/i.test(c)), []);

  // /get redirects to /get/ and keeps the query (where an invite travels).
  const r = await cp.call('GET', '/get?invite=dp_x');
  assert.equal(r.status, 200, 'fetch follows the redirect');
  const raw = await fetch(`${cp.url}/get?invite=dp_abc`, { redirect: 'manual' });
  assert.equal(raw.status, 301);
  assert.equal(raw.headers.get('location'), 'get/?invite=dp_abc');
  await page.context().close();
});

test('with an invite: the link enrolls without minting, the invite leaves the address bar and never reaches a log', async () => {
  const invite = await cp.op('POST', '/v1/operator/invites', { uses: 1 });
  assert.equal(invite.status, 201);
  const page = await newPage(browser);
  const { traffic } = await runFlow(page, invite.body.link);
  assert.equal(new URL(page.url()).search, '', 'invite removed from the address bar');
  assert.ok(await page.locator('#invite-note').isVisible(), 'the page says an invite is in use');
  await screenshots(page, '04-ready-invite');
  const exchanges = await traffic.settled();
  const posts = exchanges.filter((e) => e.method === 'POST').map((e) => new URL(e.url).pathname);
  assert.deepEqual(posts, ['/v1/enroll'], 'no public pass minted');
  const enroll = exchanges.find((e) => e.url.endsWith('/v1/enroll'))!;
  assert.equal(JSON.parse(enroll.requestBody).installPass, invite.body.token);
  assert.equal(JSON.parse(enroll.responseBody).tier, 'standard');
  assert.match(await page.locator('#usage').innerText(), /Up to 100 GB per period on this connection \(standard tier\)/);
  assertNoSecretAnywhere(exchanges, await renderedPrivateKey(page), [...traffic.console, ...cp.logs]);
  assert.ok(!cp.logs.join('\n').includes(invite.body.token), 'invite token in a server log');
  // The link's #root= pin: the catalog is checked against it, and it never leaves the page.
  const pin = new URL(invite.body.link).hash.replace('#root=', '');
  assert.match(pin, /^[0-9a-f]{64}$/);
  assert.equal(await page.locator('#posture-catalog').getAttribute('data-verified'), 'true');
  assert.equal(await page.locator('#posture-catalog').getAttribute('data-pin'), 'invite');
  assert.match(await page.locator('#posture-catalog').innerText(), /The root of trust was pinned by your invite link\./);
  assertPinNeverSent(exchanges, pin);
  assert.equal(new URL(page.url()).hash, '', 'the fragment left the address bar with the invite');
  await page.context().close();
});

/** The pin is in no request the page made (URL, headers, body), and the page did not ask the server which root to trust. */
function assertPinNeverSent(exchanges: Exchange[], pin: string) {
  assert.ok(exchanges.some((e) => new URL(e.url).pathname === '/v1/trust/root/1.json'), 'root v1 fetched');
  for (const ex of exchanges) {
    assert.ok(!ex.url.toLowerCase().includes(pin), `pin in URL ${ex.url}`);
    assert.ok(!ex.requestBody.toLowerCase().includes(pin), `pin in request body to ${ex.url}`);
    assert.ok(!JSON.stringify(ex.requestHeaders).toLowerCase().includes(pin), `pin in request headers to ${ex.url}`);
    assert.ok(!ex.url.includes('#'), `fragment in URL ${ex.url}`);
    assert.notEqual(new URL(ex.url).pathname, '/v1/trust', 'with a pin in the link the page does not ask the server which root to trust');
  }
}

test('invite link pins the root: a pin that does not match stops the page before it enrolls (the invite stays unspent); the right pin connects with the same invite', async () => {
  const invite = await cp.op('POST', '/v1/operator/invites', { uses: 1 });
  const good = new URL(invite.body.link);
  const wrongPin = 'ab'.repeat(32);
  assert.notEqual(good.hash, `#root=${wrongPin}`);
  const page = await newPage(browser);
  const traffic = recordTraffic(page);
  await page.goto(`${good.origin}${good.pathname}${good.search}#root=${wrongPin}`);
  const line = page.locator('#posture-catalog[data-verified="false"]');
  await line.waitFor();
  assert.equal(await line.getAttribute('data-pin'), 'invite');
  const text = await line.innerText();
  assert.match(text, /could not be verified \(Root does not match the pinned sha256\.\)/);
  assert.match(text, /The root of trust was pinned by your invite link\. No connection was made\./);
  assert.ok(await page.locator('#invite-note').isVisible(), 'the invite was still taken from ?invite=…#root=…');
  // Verify first: the page refuses before it sends anything (test/wizard/wizard-verify-first.test.ts covers every kind).
  await page.locator('#problem[data-code="trust_pin_mismatch"]').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#go').isVisible(), false);
  assert.equal(new URL(page.url()).search + new URL(page.url()).hash, '', 'invite and pin left the address bar');
  await screenshots(page, '13-posture-pin-mismatch');
  const refused = await traffic.settled();
  assertPinNeverSent(refused, wrongPin);
  assert.deepEqual(refused.filter((e) => e.method !== 'GET').map((e) => e.url), [], 'nothing enrolled, nothing minted');

  // The same invite with the pin its link carries: verified, and enrollment goes on with the invite (still unspent).
  const page2 = await newPage(browser);
  const { traffic: t2 } = await runFlow(page2, invite.body.link);
  assert.equal(await page2.locator('#posture-catalog').getAttribute('data-verified'), 'true');
  assert.equal(await page2.locator('#posture-catalog').getAttribute('data-pin'), 'invite');
  assert.match(await page2.locator('#posture-catalog').innerText(), /Its signature was checked in this page against the service's root of trust \(version 1\)\. The root of trust was pinned by your invite link\./);
  await screenshots(page2, '14-posture-pinned-by-invite');
  const exchanges = await t2.settled();
  assertPinNeverSent(exchanges, good.hash.slice('#root='.length));
  assert.equal(JSON.parse(exchanges.find((e) => e.url.endsWith('/v1/enroll'))!.requestBody).installPass, invite.body.token);
  // A malformed pin is reported, never silently replaced by the server's word.
  const page3 = await newPage(browser);
  await page3.goto(`${cp.url}/get/#root=${'a'.repeat(40)}`);
  const cut = page3.locator('#posture-catalog[data-verified="false"]');
  await cut.waitFor();
  assert.match(await cut.innerText(), /root-of-trust pin in your link is not a 64-character sha256/);
  await page3.locator('#problem[data-code="trust_pin_malformed"]').waitFor({ state: 'visible' });
  await Promise.all([page.context().close(), page2.context().close(), page3.context().close()]);
});

test('on an iPhone: iOS steps preselected, QR on screen, nothing wider than the phone', async () => {
  const page = await newPage(browser, { viewport: VIEWPORTS.phone, userAgent: IPHONE_UA, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await runFlow(page, `${cp.url}/get/`);
  assert.equal(await page.locator('input[name="platform"]:checked').getAttribute('value'), 'ios');
  const steps = await page.locator('#steps').innerText();
  assert.match(steps, /tap \+, then "Create from QR code"/);
  assert.match(steps, /Download damm-NL\.conf/);
  assert.ok(await page.locator('#qr svg').isVisible());
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no horizontal scrolling on a phone');
  await page.screenshot({ path: 'test-artifacts/wizard/05-ready-iphone-390x844.png', fullPage: false });
  await page.getByLabel('Android').check();
  assert.match(await page.locator('#steps').innerText(), /Scan from QR code/);
  await page.context().close();
});

test('accessible: keyboard-only flow, labelled controls, live status, focus moves to the result, text contrast ≥ 4.5:1', async () => {
  const page = await newPage(browser);
  await page.goto(`${cp.url}/get/`);
  await page.locator('#posture-catalog[data-verified]').waitFor();
  // Keyboard only: tab to the button and press Enter.
  let reached = false;
  for (let i = 0; i < 10 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.id === 'go');
  }
  assert.ok(reached, 'the start button is reachable with Tab');
  await page.keyboard.press('Enter');
  await page.locator('#result').waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'result-h');
  assert.equal(await page.locator('#status').getAttribute('aria-live'), 'polite');
  assert.equal(await page.locator('#test-result').getAttribute('aria-live'), 'polite');

  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button')]
      .filter((e) => {
        const el = e as HTMLInputElement;
        if (el.type === 'hidden') return false;
        const named = (el.labels?.length ?? 0) > 0 || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent!.trim());
        return !named;
      })
      .map((e) => e.outerHTML.slice(0, 80)),
  );
  assert.deepEqual(unlabelled, []);

  // WCAG contrast of every visible text against its background.
  const low = await lowContrastTexts(page);
  assert.deepEqual(low, []);
  await page.context().close();
});

test('"Test my connection" says plainly when traffic does not come through DAMM, and what to try next', async () => {
  const page = await newPage(browser);
  await runFlow(page, `${cp.url}/get/`);
  await page.locator('#test').click();
  const result = page.locator('#test-result[data-verdict="not-through-damm"]');
  await result.waitFor();
  const text = await result.innerText();
  assert.match(text, /Not yet: your traffic is not going through DAMM/);
  assert.match(text, /DAMM sees you at 127\.0\.0\.1/);
  assert.match(text, /Round trip to DAMM: \d+ ms/);
  assert.match(text, /switch on "damm-NL"/);
  assert.match(text, /may block WireGuard's UDP traffic \(port 51820\)/);
  assert.match(text, /Try another network/);
  assert.match(text, /obfuscated \(T1\) front door/);
  await screenshots(page, '06-test-not-through-damm');

  // The service unreachable from the page (as when a tunnel is on but passes nothing).
  await page.route('**/v1/whoami**', (r) => r.abort('connectionfailed'));
  await page.locator('#test').click();
  const unreachable = page.locator('#test-result[data-verdict="unreachable"]');
  await unreachable.waitFor();
  assert.match(await unreachable.innerText(), /could not reach DAMM at all[\s\S]*Switch the tunnel off to get back online/);
  await screenshots(page, '07-test-unreachable');
  await page.context().close();
});

test('"Test my connection" reports success, exit and round trip when traffic arrives from a DAMM gateway', async () => {
  // A second gateway whose egress address is loopback: the page's own requests then arrive "through" it.
  await registerTestGateway(cp, { region: 'SE', country: 'SE', publicKey: Buffer.from(x25519.getPublicKey(x25519.utils.randomSecretKey())).toString('base64'), host: '192.0.2.11', egressIps: ['127.0.0.1'] });
  const page = await newPage(browser);
  await page.goto(`${cp.url}/get/`);
  await page.locator('#exit-field').waitFor({ state: 'visible' }); // two places now: the person may choose
  await page.getByLabel('Where should your traffic exit?').selectOption({ label: 'Sweden (SE)' });
  await page.locator('#go').click();
  await page.locator('#result').waitFor({ state: 'visible' });
  const placement = await page.locator('#placement').innerText();
  assert.match(placement, /You asked for\s+exit Sweden \(SE\)/);
  assert.match(placement, /You got\s+exit Sweden \(SE\)/);
  assert.match(placement, /Why\s+As requested/);
  await page.locator('#test').click();
  const result = page.locator('#test-result[data-verdict="through-damm"]');
  await result.waitFor();
  const text = await result.innerText();
  assert.match(text, /Yes: your traffic arrives through DAMM/);
  assert.match(text, /Exit: Sweden \(SE\), through gateway \S+ \(SE\)/);
  assert.match(text, /Round trip to DAMM: \d+ ms/);
  await screenshots(page, '08-test-through-damm');
  await page.context().close();
});

test('an exit that cannot be honoured is shown as not what was asked, with the reason', async () => {
  const page = await newPage(browser);
  await page.goto(`${cp.url}/get/`);
  await page.locator('#exit-field').waitFor({ state: 'visible' });
  // Ask for a country DAMM has no gateway in, the way a hand-edited request would.
  await page.locator('#exit').evaluate((s: HTMLSelectElement) => s.add(new Option('Japan', 'JP|JP')));
  await page.locator('#exit').selectOption('JP|JP');
  await page.locator('#go').click();
  await page.locator('#result').waitFor({ state: 'visible' });
  const placement = page.locator('#placement');
  assert.match((await placement.getAttribute('class')) ?? '', /warn/);
  const text = await placement.innerText();
  assert.match(text, /Your exit is not the one you asked for/);
  assert.match(text, /You asked for\s+exit Japan \(JP\)/);
  assert.match(text, /Why\s+Not as requested: DAMM has no gateway for/);
  await screenshots(page, '09-placement-not-honoured');
  await page.context().close();
});

test('posture panel: a catalog whose signature does not verify is reported, not trusted', async () => {
  const page = await newPage(browser);
  await page.route('**/v1/catalog', async (route) => {
    const res = await route.fetch();
    const env = await res.json();
    const payload = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
    payload.version += 1000; // tampered after signing
    env.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
    await route.fulfill({ response: res, json: env });
  });
  await page.goto(`${cp.url}/get/`);
  const line = page.locator('#posture-catalog[data-verified="false"]');
  await line.waitFor();
  assert.match(await line.innerText(), /could not be verified/);
  // And the page stops there: no button, the refusal in words.
  await page.locator('#problem[data-code="trust_catalog_invalid"]').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#go').isVisible(), false);
  await screenshots(page, '10-posture-catalog-unverified');
  await page.context().close();
});

/** A non-loopback IPv4 address of this machine: plain http there is not a secure origin. */
function lanAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this machine has no non-loopback IPv4 address to serve the wizard on an insecure origin');
}

test('on a plain-http origin (no crypto.subtle) the key is made with @noble/curves and the flow still works', async () => {
  const lan = await startTestControlPlane({ host: lanAddress(), config: { gatewayOfflineAfterSeconds: 3600 } });
  try {
    await registerTestGateway(lan, { publicKey: GATEWAY_KEY });
    const page = await newPage(browser);
    const { traffic } = await runFlow(page, `${lan.url}/get/`);
    assert.equal(await page.evaluate(() => [window.isSecureContext, typeof crypto.subtle]).then(String), 'false,undefined');
    assert.equal(await page.locator('#result').getAttribute('data-key-source'), 'noble');
    const privateKey = await renderedPrivateKey(page);
    const exchanges = await traffic.settled();
    const enroll = exchanges.find((e) => e.url.endsWith('/v1/enroll'))!;
    assert.equal(JSON.parse(enroll.requestBody).publicKey, Buffer.from(x25519.getPublicKey(Buffer.from(privateKey, 'base64'))).toString('base64'));
    assertNoSecretAnywhere(exchanges, privateKey, [...traffic.console, ...lan.logs]);
    // The catalog is verified here too (core's verifyCatalog needs no WebCrypto).
    assert.equal(await page.locator('#posture-catalog').getAttribute('data-verified'), 'true');
    // No async clipboard on an insecure origin: the copy button falls back to selecting the text.
    await page.locator('#conf-details summary').click();
    await page.locator('#copy').click();
    assert.match(await page.locator('#copy-status').innerText(), /Copied\.|Selected/);
    await page.context().close();
  } finally {
    await lan.stop();
  }
});

test('copy button puts exactly the config on the clipboard', async () => {
  const page = await newPage(browser);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: cp.url });
  await runFlow(page, `${cp.url}/get/`);
  await page.locator('#conf-details summary').click();
  await page.locator('#copy').click();
  await page.locator('#copy-status', { hasText: 'Copied.' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), await page.locator('#conf').inputValue());
  await screenshots(page, '11-ready-config-text-copied');
  await page.context().close();
});
