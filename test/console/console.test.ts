/**
 * The /console/ operator console in real Chromium against a real control
 * plane and Postgres: sign-in (a wrong token refused with a sentence, the
 * session cookie as Chromium stores it on http://127.0.0.1), every page at
 * phone and desktop width (screenshots in test-artifacts/console/, or kept
 * under docs/screens/console/ with DAMM_UPDATE_SCREENS=1),
 * an invite issued with its link and QR code and then used in the /get/
 * wizard, that device revoked from the console and seen revoked through the
 * API, both in the audit page, CSRF refusals from the page and from another
 * site, sign-out, and idle expiry on a controllable clock.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { x25519 } from '@noble/curves/ed25519.js';
import QRCode from 'qrcode';
import type { Page } from 'playwright-core';
import { registerTestGateway, startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { lowContrastTexts, newPage, recordTraffic, useBrowser, VIEWPORTS } from '../helpers/browser.js';
import { WIZARD_CSP } from '../../src/control-plane/routes/wizard.js';
import { ManualClock } from '../../src/core/clock.js';

// The screenshots kept in the repository are refreshed on purpose (DAMM_UPDATE_SCREENS=1), not by every run.
const SCREENS = path.resolve(process.env['DAMM_UPDATE_SCREENS'] ? 'docs/screens/console' : 'test-artifacts/console');
const GATEWAY_KEY = Buffer.from(x25519.getPublicKey(x25519.utils.randomSecretKey())).toString('base64');
const IDLE_SECONDS = 900;

const browser = await useBrowser();
const clock = new ManualClock(new Date());
let cp: TestControlPlane;
let gateway: { gatewayId: string; credential: string };
let page: Page;
let traffic: ReturnType<typeof recordTraffic>;
const pageErrors: string[] = [];

before(async () => {
  const info = JSON.parse(readFileSync('dist/console/build-info.json', 'utf8'));
  assert.ok(info.jsGzipBytes <= info.budgetGzipBytes, `console JS ${info.jsGzipBytes} B gzipped is within its ${info.budgetGzipBytes} B budget`);
  cp = await startTestControlPlane({ clock, config: { gatewayOfflineAfterSeconds: 3600, mintLimitPerHour: 100, consoleSessionIdleSeconds: IDLE_SECONDS } });
  gateway = await registerTestGateway(cp, { region: 'NL', country: 'NL', publicKey: GATEWAY_KEY, host: '192.0.2.10', egressIps: ['192.0.2.10'], tiers: ['T0', 'T1'] });
  page = await newPage(browser);
  traffic = recordTraffic(page);
  page.on('pageerror', (e) => pageErrors.push(e.message));
});
after(() => cp?.stop());

async function shoot(name: string): Promise<void> {
  mkdirSync(SCREENS, { recursive: true });
  for (const [size, vp] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(vp);
    await page.screenshot({ path: path.join(SCREENS, `${name}-${size}-${vp.width}.png`), fullPage: true });
  }
  await page.setViewportSize(VIEWPORTS.desktop);
}

async function go(name: string, ready: string): Promise<void> {
  await page.locator(`nav a[href="#${name}"]`).click();
  await page.locator(ready).first().waitFor();
}

test('the page: strict CSP, served from this origin only, and a wrong token refused with a sentence', async () => {
  const res = await page.goto(`${cp.url}/console/`);
  assert.equal(res?.status(), 200);
  assert.equal(res?.headers()['content-security-policy'], WIZARD_CSP);
  assert.equal(res?.headers()['x-frame-options'], 'DENY');
  await page.locator('#sign-in').waitFor();
  await shoot('01-sign-in');
  await page.locator('#token').fill('do_' + 'A'.repeat(32));
  await page.keyboard.press('Enter');
  const error = page.locator('#sign-in-error');
  await error.waitFor();
  assert.match(await error.innerText(), /^That operator token is not valid: it is unknown or has been revoked\. Check that you pasted all of it/);
  assert.equal(await page.locator('#nav').isHidden(), true);
  assert.deepEqual((await page.context().cookies()).map((c) => c.name), [], 'a refused sign-in sets no cookie');
});

test('sign in with the keyboard: Chromium keeps the HttpOnly, Secure, SameSite=Strict __Host- cookie on http://127.0.0.1; the token is nowhere in the page, its storage or its URLs', async () => {
  await page.locator('#token').fill(cp.operatorToken);
  await page.keyboard.press('Enter');
  await page.locator('#who-name').waitFor();
  assert.equal(await page.locator('#who-name').innerText(), 'Signed in as test');
  await page.locator('#ov-enroll svg').waitFor();
  const cookies = await page.context().cookies();
  assert.equal(cookies.length, 1);
  const c = cookies[0]!;
  // Chromium treats http://127.0.0.1 as a secure context, so it accepts (and sends back) a Secure, __Host- cookie there.
  assert.deepEqual({ name: c.name, httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite, path: c.path }, { name: '__Host-damm_session', httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
  assert.equal(await page.evaluate(() => document.cookie), '', 'script cannot read the session cookie');
  assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0, 'nothing in web storage');
  assert.equal(await page.locator('#token').inputValue(), '', 'the token field is emptied');
  const exchanges = await traffic.settled();
  for (const ex of exchanges) {
    assert.ok(ex.url.startsWith(`${cp.url}/`), `request to another site: ${ex.url}`);
    assert.ok(!ex.url.includes(cp.operatorToken), `token in a URL: ${ex.url}`);
  }
  const signIns = exchanges.filter((e) => e.url.endsWith('/v1/console/session') && e.method === 'POST');
  assert.equal(signIns.length, 2, 'the wrong and the right sign-in');
  for (const ex of exchanges.filter((e) => !(e.url.endsWith('/v1/console/session') && e.method === 'POST'))) {
    assert.ok(!ex.requestBody.includes(cp.operatorToken) && !JSON.stringify(ex.requestHeaders).includes(cp.operatorToken), `token sent again to ${ex.url}`);
  }
  for (const line of cp.logs) assert.ok(!line.includes(cp.operatorToken), 'token in a server log line');
});

test('overview: posture, gateways and doors up, two charts as inline SVG with a sentence each, no low-contrast text', async () => {
  assert.match(await page.locator('#ov-posture').innerText(), /All 2 gateway front door\(s\) are online/);
  assert.match(await page.locator('#ov-tiles').innerText(), /1 of 1\s+gateways online/);
  assert.match(await page.locator('#ov-tiles').innerText(), /2 of 2\s+doors up/);
  assert.equal(await page.locator('#ov-enroll svg rect.bar').count(), 24);
  assert.equal(await page.locator('#ov-bytes svg rect.bar').count(), 14);
  assert.match((await page.locator('#ov-enroll svg').getAttribute('aria-label')) ?? '', /enrollment\(s\) in the last 24 hours/);
  assert.deepEqual(await lowContrastTexts(page), []);
  await shoot('02-overview');
});

test('keyboard: the skip link, then each page link in order and Sign out; Enter opens a page and focuses its heading; every control has a name', async () => {
  await page.reload();
  await page.locator('#ov-enroll svg').waitFor();
  const focused = () => page.evaluate(() => {
    const e = document.activeElement as HTMLElement | null;
    return e ? (e.getAttribute('href') ?? e.id ?? e.textContent) || e.textContent : null;
  });
  const order: (string | null)[] = [];
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Tab');
    order.push(await focused());
  }
  assert.deepEqual(order, ['#main', '#overview', '#devices', '#gateways', '#invites', '#audit', '#keys', 'sign-out']);
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab'); // back on Devices
  await page.keyboard.press('Enter');
  await page.locator('#page-devices').waitFor();
  assert.equal(await focused(), 'devices-h', 'the new page\'s heading has the focus');
  assert.equal(await page.locator('nav a[aria-current="page"]').getAttribute('href'), '#devices');
  const unnamed = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button')]
      .filter((e) => {
        const named = (e as HTMLInputElement).labels?.length || e.getAttribute('aria-label') || (e.tagName === 'BUTTON' && e.textContent?.trim());
        return !named;
      })
      .map((e) => e.outerHTML.slice(0, 80)),
  );
  assert.deepEqual(unnamed, []);
  await page.locator('nav a[href="#overview"]').click();
  await page.locator('#overview-h:focus').waitFor();
});

let inviteLink = '';

test('invites: issue one with tier, uses, expiry and note; its link and a QR code of exactly that link; listed', async () => {
  await go('invites', '#invite-form');
  await page.locator('#inv-tier').selectOption('standard');
  await page.locator('#inv-uses').fill('2');
  await page.locator('#inv-days').fill('3');
  await page.locator('#inv-note').fill('phone of Grace');
  await page.locator('#invite-form button[type="submit"]').click();
  await page.locator('#issued').waitFor();
  inviteLink = await page.locator('#issued-link').inputValue();
  assert.match(inviteLink, new RegExp(`^${cp.url.replace(/[.]/g, '\\.')}/get/\\?invite=dp_[A-Za-z0-9_-]+#root=[0-9a-f]{64}$`));
  assert.match(await page.locator('#flash').innerText(), /^Issued an invite for “phone of Grace”: tier standard, 2 use\(s\), expires /);
  const modules = QRCode.create(inviteLink, { errorCorrectionLevel: 'M' }).modules;
  const svg = page.locator('#issued-qr svg');
  assert.equal(await svg.getAttribute('viewBox'), `0 0 ${modules.size + 8} ${modules.size + 8}`);
  let dark = 0;
  for (let r = 0; r < modules.size; r++) for (let c = 0; c < modules.size; c++) dark += modules.get(r, c) ? 1 : 0;
  const d = (await svg.locator('path').getAttribute('d')) ?? '';
  const drawn = [...d.matchAll(/h(\d+)v1/g)].reduce((n, m) => n + Number(m[1]), 0);
  assert.equal(drawn, dark, 'the QR draws exactly the encoder\'s dark modules for this link');
  const row = page.locator('#passes-table tbody tr', { hasText: 'phone of Grace' });
  assert.match(await row.innerText(), /invite\s+usable\s+standard\s+2 of 2/);
  await shoot('03-invites');
});

let deviceId = '';

test('the invite link enrolls a device in the /get/ wizard; the console finds it by its note', async () => {
  const wizard = await newPage(browser);
  await wizard.goto(inviteLink);
  await wizard.locator('#posture-catalog[data-verified="true"]').waitFor();
  await wizard.locator('#go').click();
  await wizard.locator('#result').waitFor({ state: 'visible' });
  await wizard.context().close();
  const listed = await cp.op('GET', '/v1/operator/devices?q=Grace');
  assert.equal(listed.body.devices.length, 1);
  deviceId = listed.body.devices[0].id;

  await go('devices', '#device-search');
  await page.locator('#device-q').fill('grace');
  await page.locator('#device-q').press('Enter');
  const row = page.locator(`tr[data-device="${deviceId}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /active/);
  assert.match(await row.innerText(), /0 bytes of 100 GB/);
  assert.match(await row.innerText(), /phone of Grace/);
  await shoot('04-devices');
});

test('revoke from the console: asked in words (Escape changes nothing), confirmed in words, revoked through the API, its peer removed from the feed', async () => {
  const row = page.locator(`tr[data-device="${deviceId}"]`);
  await row.locator('button[data-action="revoke"]').click();
  const dialog = page.locator('#confirm');
  await dialog.waitFor();
  assert.match(await page.locator('#confirm-h').innerText(), new RegExp(`^Revoke device ${deviceId.slice(0, 8)} \\(10\\.66\\.`));
  assert.match(await page.locator('#confirm-msg').innerText(), /This cannot be undone/);
  await page.keyboard.press('Escape');
  await page.locator('#flash', { hasText: 'Nothing was changed.' }).waitFor();
  assert.equal((await cp.op('GET', `/v1/operator/devices?q=${deviceId}`)).body.devices[0].state, 'active');

  await row.locator('button[data-action="revoke"]').click();
  await dialog.waitFor();
  await page.locator('#confirm-ok').click();
  await page.locator('#flash', { hasText: `Revoked device ${deviceId.slice(0, 8)}` }).waitFor();
  await page.locator(`tr[data-device="${deviceId}"][data-state="revoked"]`).waitFor();
  const api = await cp.op('GET', `/v1/operator/devices?q=${deviceId}`);
  assert.equal(api.body.devices[0].state, 'revoked');
  assert.equal(api.body.devices[0].stateReason, 'revoked by operator');
  const feed = await cp.database.db.query<{ kind: string }>('SELECT kind FROM feed_events WHERE device_id = $1 ORDER BY id', [deviceId]);
  assert.deepEqual(feed.rows.map((r) => r.kind), ['upsert', 'remove']);
});

test('audit: the invite, the enrollment and the revocation, with the operator named; filter by device and action', async () => {
  await go('audit', '#audit-filter');
  await page.locator('tr[data-action="invite.issued"]').first().waitFor();
  await page.locator('#audit-device').fill(deviceId);
  await page.locator('#audit-filter button[type="submit"]').click();
  await page.locator('#audit-table tbody tr[data-action="device.revoked"]').waitFor();
  const rows = await page.locator('#audit-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-action')));
  assert.deepEqual(rows, ['device.revoked', 'device.enrolled'], 'newest first, only this device');
  assert.match(await page.locator('tr[data-action="device.revoked"]').innerText(), /operator:test/);
  await page.locator('#audit-device').fill('');
  await page.locator('#audit-action').fill('invite.');
  await page.locator('#audit-filter button[type="submit"]').click();
  await page.locator('#audit-table tbody tr[data-action="invite.issued"]').waitFor();
  assert.match(await page.locator('#audit-table tbody tr').first().innerText(), /operator:test\s+invite\.issued/);
  // Follow live: an entry made elsewhere (the CLI's token) appears without a reload.
  await page.locator('#audit-follow').check();
  await cp.op('POST', '/v1/operator/invites', { note: 'made by the CLI' });
  await page.locator('#audit-table tbody tr', { hasText: 'operator:test' }).nth(1).waitFor();
  await page.locator('#audit-follow').uncheck();
  await page.locator('#audit-action').fill('');
  await page.locator('#audit-filter button[type="submit"]').click();
  await page.locator('#audit-table tbody tr[data-action="console.signed_in"]').first().waitFor();
  await shoot('05-audit');
});

test('gateways and keys pages: doors with their state, heartbeat, peers; trust status read-only', async () => {
  await go('gateways', '.gateway');
  const gw = page.locator('.gateway', { hasText: 'gw-nl' });
  assert.match(await gw.innerText(), /online/);
  assert.match(await gw.innerText(), /up T0 wireguard 192\.0\.2\.10:51820/);
  assert.match(await gw.innerText(), /up T1 wireguard 192\.0\.2\.10:51821/);
  assert.match(await gw.innerText(), /Peers\s+0/, 'the revoked device is no longer a peer');
  // Add a gateway: its one-time token and the root pin, ready for the gateway host's env file; the token registers it.
  await page.locator('#gw-region').fill('DE');
  await page.locator('#gw-country').fill('DE');
  await page.locator('#gw-name').fill('gw-console');
  await page.locator('#gateway-form button[type="submit"]').click();
  await page.locator('#gw-added').waitFor();
  const env = await page.locator('#gw-env').inputValue();
  const pin = (await cp.call('GET', '/v1/trust')).body.rootV1Sha256;
  const m = new RegExp(`^DAMM_CONTROL_PLANE=${cp.url.replace(/[.]/g, '\\.')}\nDAMM_GATEWAY_TOKEN=(dg_[A-Za-z0-9_-]+)\nDAMM_ROOT_SHA256=${pin}\n$`).exec(env);
  assert.ok(m, env);
  // A server that offers `damm gateway join` also returns a join code: shown when there is one, hidden when not.
  assert.equal(await page.locator('#gw-join-wrap').isVisible(), (await page.locator('#gw-join').inputValue()).length > 0);
  assert.match(await page.locator('.gateway', { hasText: 'gw-console' }).innerText(), /not registered/);
  const reg = await cp.call('POST', '/v1/gateways/register', {
    registrationToken: m[1],
    doors: [{ lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: Buffer.from(x25519.getPublicKey(x25519.utils.randomSecretKey())).toString('base64'), params: null, endpoints: [{ host: '192.0.2.20', port: 51820 }] }],
    egressIps: ['192.0.2.20'],
  });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  await shoot('06-gateways');
  // Drain, undrain and remove: each asked and confirmed in words, each through the API, each audited.
  const de = () => page.locator('.gateway', { hasText: 'gw-console' });
  const gwId = reg.body.gatewayId as string;
  const summary = async () => ((await cp.op('GET', '/v1/operator/gateways')).body.gateways as any[]).find((g) => g.id === gwId);
  await de().locator('button[data-action="drain"]').click();
  assert.match(await page.locator('#confirm-msg').innerText(), /No new device is placed on it/);
  await page.locator('#confirm-ok').click();
  await page.locator('.gateway', { hasText: 'gw-console' }).locator('button[data-action="undrain"]').waitFor();
  assert.match(await de().innerText(), /online, drained/);
  assert.equal((await summary()).drained, true);
  await de().locator('button[data-action="undrain"]').click();
  await page.locator('#confirm-ok').click();
  await de().locator('button[data-action="drain"]').waitFor();
  assert.equal((await summary()).drained, false);
  await de().locator('button[data-action="remove"]').click();
  assert.match(await page.locator('#confirm-msg').innerText(), /This cannot be undone/);
  await page.locator('#confirm-ok').click();
  await page.locator('.gateway', { hasText: 'gw-console' }).waitFor({ state: 'detached' });
  assert.equal(await summary(), undefined, 'removed gateways leave the list');
  const actions = ((await cp.op('GET', '/v1/operator/audit?limit=20')).body.entries as any[]).filter((e) => e.subject === `gateway:${gwId}`).map((e) => e.action);
  for (const a of ['gateway.drained', 'gateway.undrained', 'gateway.removed']) assert.ok(actions.includes(a), `${a} in ${actions}`);
  await go('keys', '#keys-body section');
  const keys = await page.locator('#keys-body').innerText();
  assert.match(keys, /Root version 1/);
  assert.match(keys, /Catalog keys \(threshold 1\)/);
  assert.match(keys, /Next rotation due /);
  assert.match(keys, /valid now/);
  assert.equal(await page.locator('#page-keys button').count(), 0, 'nothing on the keys page changes anything');
  await shoot('07-keys');
});

test('CSRF: a change from the console page without the header is 403 csrf_refused; another site cannot use the session at all', async () => {
  const count = async () => (await cp.database.db.query("SELECT count(*)::int AS n FROM install_passes WHERE note = 'forged'")).rows[0].n;
  const sameOrigin = await page.evaluate(async () => {
    const r = await fetch('/v1/operator/invites', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ note: 'forged' }) });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(sameOrigin.status, 403);
  assert.equal(sameOrigin.body.error.code, 'csrf_refused');
  // A page of someone else's, on this machine: a plain server with no CSP of ours.
  const attacker = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title>'));
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  const port = (attacker.address() as AddressInfo).port;
  try {
    // http://127.0.0.1:<other port> is the same site (ports do not count) but another origin: the
    // cookie goes along, and the Origin check refuses. http://localhost:<port> is another site:
    // SameSite=Strict keeps the cookie off the request altogether.
    for (const host of ['127.0.0.1', 'localhost']) {
      const other = await page.context().newPage();
      await other.goto(`http://${host}:${port}/`);
      const type = await other.evaluate(async (target) => {
        const r = await fetch(`${target}/v1/operator/invites`, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ note: 'forged' }) });
        return r.type;
      }, cp.url);
      assert.equal(type, 'opaque');
      await other.close();
    }
  } finally {
    attacker.close();
  }
  assert.equal(await count(), 0, 'no forged invite was issued');
  const refused = cp.logs.flatMap((l) => l.split('\n')).filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.req?.path === '/v1/operator/invites' && l.status >= 400).map((l) => l.status);
  assert.deepEqual(refused.sort(), [401, 403, 403], 'headerless and same-site-other-origin refused (403); the cross-site request arrived without the cookie (401)');
  const codes = cp.logs.flatMap((l) => l.split('\n')).filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.msg === 'request refused').map((l) => l.code);
  assert.equal(codes.filter((c) => c === 'csrf_refused').length, 2);
});

test('sign-out ends the session on the server; an idle session ends with a sentence on the next click', async () => {
  await page.locator('#sign-out').click();
  await page.locator('#sign-in').waitFor();
  await page.locator('#flash', { hasText: 'Signed out.' }).waitFor();
  assert.deepEqual((await page.context().cookies()).map((c) => c.name), [], 'the cookie is cleared');

  await page.locator('#token').fill(cp.operatorToken);
  await page.keyboard.press('Enter');
  await page.locator('#who-name').waitFor();
  clock.advance(IDLE_SECONDS + 1);
  await page.locator('nav a[href="#devices"]').click();
  const error = page.locator('#sign-in-error');
  await error.waitFor();
  assert.match(await error.innerText(), /^Your console session has ended: .*idle for more than 15 minute\(s\).* Sign in again\.$/);
  await shoot('08-session-ended');
});

test('overview after some traffic: enrollments this hour and bytes metered today (heartbeat → usage_daily) drawn as bars', async () => {
  const keys: string[] = [];
  for (let i = 0; i < 3; i++) {
    const pass = await cp.call('POST', '/v1/install-passes');
    const pub = Buffer.from(x25519.getPublicKey(x25519.utils.randomSecretKey())).toString('base64');
    assert.equal((await cp.call('POST', '/v1/enroll', { installPass: pass.body.installPass, publicKey: pub })).status, 201);
    keys.push(pub);
  }
  // The gateway's heartbeat, as its agent sends it, carries the byte deltas the chart adds up per day.
  const beat = await cp.call('POST', `/v1/gateways/${gateway.gatewayId}/heartbeat`, { seq: 1, peers: keys.map((publicKey, i) => ({ publicKey, rxDelta: (i + 1) * 200 * 2 ** 20, txDelta: 112 * 2 ** 20 })) }, { authorization: `Bearer ${gateway.credential}` });
  assert.equal(beat.status, 200, JSON.stringify(beat.body));

  await page.locator('#token').fill(cp.operatorToken);
  await page.keyboard.press('Enter');
  await page.locator('#who-name').waitFor();
  await go('overview', '#ov-bytes svg[aria-label$="today 1.5 GB."]');
  const heights = await page.locator('#ov-enroll svg rect.bar').evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('height'))));
  assert.ok(heights.at(-1)! > 0, 'this hour has a bar');
  assert.match(await page.locator('#ov-tiles').innerText(), /3\s+devices active/);
  await shoot('02-overview');
  assert.deepEqual(pageErrors, []);
  // The strict CSP held all along: no inline style or script, nothing from elsewhere, was ever refused.
  assert.deepEqual(traffic.consoleErrors.filter((e) => /Content Security Policy|Refused to/i.test(e)), []);
  const unexpected = traffic.consoleErrors.filter((e) => !/status of (401|403)/.test(e));
  assert.deepEqual(unexpected, [], 'the only console errors are the refusals this test provoked');
});
