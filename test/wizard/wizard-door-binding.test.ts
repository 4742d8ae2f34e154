/**
 * The device config is bound to the signed catalog (docs/threat-model.md):
 * the /v1/enroll answer is unsigned, so the wizard takes the endpoint and the
 * gateway key only from the verified catalog's entry for the door the answer
 * names. Here a real HTTP proxy stands between real Chromium and a real
 * control plane and rewrites the enrollment answer the way a tampering
 * server or middlebox would: the page must refuse in words and render no
 * .conf and no QR code. An untouched pass through the same proxy proves the
 * refusals come from the rewrite, not from the proxy.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { x25519 } from '@noble/curves/ed25519.js';
import type { Page } from 'playwright-core';
import { registerTestGateway, startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { newPage, screenshots, useBrowser } from '../helpers/browser.js';

const browser = await useBrowser();
const wgKey = () => Buffer.from(x25519.getPublicKey(x25519.utils.randomSecretKey())).toString('base64');
const GATEWAY_KEY = wgKey();
const GATEWAY_ENDPOINT = '192.0.2.10:51820';

let cp: TestControlPlane;
before(async () => {
  cp = await startTestControlPlane({ config: { gatewayOfflineAfterSeconds: 3600, mintLimitPerHour: 100 } });
  await registerTestGateway(cp, { region: 'NL', country: 'NL', publicKey: GATEWAY_KEY, host: '192.0.2.10' });
});
after(() => cp?.stop());

type EnrollAnswer = { frontDoor: { id: string; endpoint: string; publicKey: string } } & Record<string, unknown>;

/**
 * A forwarding proxy to the control plane that passes every request through
 * unchanged and rewrites the body of a successful POST /v1/enroll answer.
 * Returns its base URL; it closes when the test ends.
 */
async function tamperingProxy(t: { after(fn: () => unknown): void }, rewrite: (answer: EnrollAnswer) => void): Promise<{ url: string; rewritten: () => number }> {
  const upstream = new URL(cp.url);
  let rewritten = 0;
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers };
    delete headers['accept-encoding']; // plain bodies, so the answer can be rewritten
    delete headers.host;
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (upRes) => {
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => chunks.push(c));
      upRes.on('end', () => {
        let body = Buffer.concat(chunks);
        if (req.method === 'POST' && req.url === '/v1/enroll' && upRes.statusCode === 201) {
          const answer = JSON.parse(body.toString('utf8')) as EnrollAnswer;
          rewrite(answer);
          rewritten++;
          body = Buffer.from(JSON.stringify(answer));
        }
        const out = { ...upRes.headers, 'content-length': String(body.length) };
        delete out['transfer-encoding'];
        res.writeHead(upRes.statusCode ?? 502, out);
        res.end(body);
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  t.after(() => server.closeAllConnections());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, rewritten: () => rewritten };
}

/** Opens the wizard through `base`, presses the button, and waits for either the result or a problem. */
async function connect(page: Page, base: string): Promise<'result' | 'problem'> {
  await page.goto(`${base}/get/`);
  await page.locator('#posture-catalog[data-verified]').waitFor();
  assert.equal(await page.locator('#posture-catalog').getAttribute('data-verified'), 'true', 'the catalog itself verifies through the proxy');
  await page.locator('#go').click();
  return Promise.race([
    page.locator('#result').waitFor({ state: 'visible' }).then(() => 'result' as const),
    page.locator('#problem').waitFor({ state: 'visible' }).then(() => 'problem' as const),
  ]);
}

/** The refusal: a problem in words, and nothing a WireGuard app could import anywhere on the page. */
async function assertRefusedWithoutConfig(page: Page, outcome: string, words: RegExp): Promise<string> {
  assert.equal(outcome, 'problem', 'the page must refuse, not render a config');
  assert.equal(await page.locator('#problem').getAttribute('data-code'), 'door_unverified');
  const message = await page.locator('#problem-msg').innerText();
  assert.match(message, words);
  assert.match(message, /signed gateway list/);
  assert.doesNotMatch(message, /\bat \S+ \(|\.(js|ts):\d+|TypeError|undefined|\[object Object\]/);
  assert.equal(await page.locator('#result').isVisible(), false, 'no result section');
  assert.equal(await page.locator('#conf').inputValue(), '', 'no .conf text');
  assert.equal(await page.locator('#qr svg').count(), 0, 'no QR code');
  assert.doesNotMatch(await page.locator('body').innerText(), /\[Interface\]|PrivateKey|Endpoint =/);
  return message;
}

test('an enrollment answer whose endpoint was rewritten on the way: refused in words, no .conf, no QR', async (t) => {
  const proxy = await tamperingProxy(t, (a) => {
    a.frontDoor.endpoint = '203.0.113.66:51820';
  });
  const page = await newPage(browser);
  const outcome = await connect(page, proxy.url);
  assert.equal(proxy.rewritten(), 1);
  await assertRefusedWithoutConfig(page, outcome, /address differently/);
  await screenshots(page, '20-door-endpoint-rewritten');
  await page.context().close();
});

test("an enrollment answer whose gateway key was rewritten on the way: refused in words, no .conf, no QR", async (t) => {
  const attacker = wgKey();
  const proxy = await tamperingProxy(t, (a) => {
    a.frontDoor.publicKey = attacker;
  });
  const page = await newPage(browser);
  const outcome = await connect(page, proxy.url);
  assert.equal(proxy.rewritten(), 1);
  await assertRefusedWithoutConfig(page, outcome, /key differently/);
  assert.doesNotMatch(await page.content(), new RegExp(attacker.replace(/[+/]/g, '\\$&')), "the attacker's key appears nowhere on the page");
  await page.context().close();
});

test('an enrollment answer naming a door the signed catalog does not hold (endpoint, key and id all rewritten): refused', async (t) => {
  const proxy = await tamperingProxy(t, (a) => {
    a.frontDoor.id = 'evil-door';
    a.frontDoor.endpoint = '203.0.113.66:51820';
    a.frontDoor.publicKey = wgKey();
  });
  const page = await newPage(browser);
  const outcome = await connect(page, proxy.url);
  await assertRefusedWithoutConfig(page, outcome, /not on its signed gateway list/);
  await page.context().close();
});

test('the same proxy, untouched answer: the config is rendered from the catalog door', async (t) => {
  const proxy = await tamperingProxy(t, () => {});
  const page = await newPage(browser);
  assert.equal(await connect(page, proxy.url), 'result');
  assert.equal(proxy.rewritten(), 1, 'the answer went through the rewriting path');
  const conf = await page.locator('#conf').inputValue();
  assert.match(conf, new RegExp(`^Endpoint = ${GATEWAY_ENDPOINT.replace(/\./g, '\\.')}$`, 'm'));
  assert.ok(conf.includes(`PublicKey = ${GATEWAY_KEY}`));
  assert.equal(await page.locator('#qr svg').count(), 1);
  await page.context().close();
});
