/**
 * Verify first (issue 17, docs/wizard.md "Verify first"): the page checks the
 * service BEFORE it enrolls anything. A real HTTP proxy stands between real
 * Chromium and a real control plane (real Postgres) and plays the attacker:
 * it serves a forged root, an expired catalog or a catalog re-signed by a
 * key the root does not certify, while the invite link carries the RIGHT
 * pin. A wrong pin needs no proxy. In every case:
 *   - no request reaches /v1/enroll (nor /v1/install-passes), recorded both
 *     in the page and at the proxy, even when the hidden button is forced;
 *   - the invite still has all its uses, and no device exists (database);
 *   - no config text, no QR code (no svg, canvas or img) is on the page;
 *   - the page says, in a sentence of its own for that failure, what
 *     happened and what to do.
 * The same proxy passing everything through still connects, so the
 * refusals come from the tampering and not from the proxy.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { x25519 } from '@noble/curves/ed25519.js';
import type { Page } from 'playwright-core';
import { fromBase64, toBase64, utf8 } from '../../src/core/bytes.js';
import { signCatalog } from '../../src/core/catalog.js';
import type { CatalogPayload } from '../../src/core/api-schemas.js';
import { generateSigningKey, PAYLOAD_TYPES, signEnvelope, type Envelope } from '../../src/core/envelope.js';
import { buildRoot, parseRootDocument, rootToInput, signRoot } from '../../src/core/trust/root.js';
import { readOnlineKeyFiles } from '../../src/control-plane/keyring.js';
import { registerTestGateway, startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { newPage, recordTraffic, screenshots, useBrowser, type Exchange } from '../helpers/browser.js';

const browser = await useBrowser();
const wgKey = () => Buffer.from(x25519.getPublicKey(x25519.utils.randomSecretKey())).toString('base64');
const GATEWAY_KEY = wgKey();

let cp: TestControlPlane;
before(async () => {
  cp = await startTestControlPlane({ config: { gatewayOfflineAfterSeconds: 3600, mintLimitPerHour: 100 } });
  await registerTestGateway(cp, { region: 'NL', country: 'NL', publicKey: GATEWAY_KEY, host: '192.0.2.10' });
});
after(() => cp?.stop());

/** Rewrites the body of a successful GET of one path; the rest passes through untouched. */
type Rewrites = Record<string, (body: Buffer) => unknown>;

/** The attacker: a forwarding proxy to the real control plane that rewrites chosen answers and records every request it sees. */
async function attackerProxy(t: { after(fn: () => unknown): void }, rewrites: Rewrites): Promise<{ url: string; seen: string[]; rewritten: string[] }> {
  const upstream = new URL(cp.url);
  const seen: string[] = [];
  const rewritten: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const headers = { ...req.headers };
    delete headers['accept-encoding']; // plain bodies, so they can be rewritten
    delete headers.host;
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (upRes) => {
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => chunks.push(c));
      upRes.on('end', () => {
        let body = Buffer.concat(chunks);
        const rewrite = req.method === 'GET' && upRes.statusCode === 200 ? rewrites[new URL(req.url ?? '/', 'http://x').pathname] : undefined;
        if (rewrite) {
          body = Buffer.from(JSON.stringify(rewrite(body)));
          rewritten.push(req.url ?? '');
        }
        const out = { ...upRes.headers, 'content-length': String(body.length) };
        delete out['transfer-encoding'];
        delete out.etag; // the body changed
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
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, rewritten };
}

const json = (b: Buffer) => JSON.parse(b.toString('utf8')) as Envelope;
const payloadOf = <T>(env: Envelope): T => JSON.parse(utf8.decode(fromBase64(env.payload)!)) as T;

/** A fresh one-use invite; its link rebased onto `origin` (the proxy), keeping the `#root=` pin the control plane put there. */
async function invite(origin: string, pin?: string): Promise<{ id: string; link: string; pin: string }> {
  const r = await cp.op('POST', '/v1/operator/invites', { uses: 1 });
  assert.equal(r.status, 201);
  const link = new URL(r.body.link);
  const rightPin = link.hash.replace('#root=', '');
  assert.match(rightPin, /^[0-9a-f]{64}$/, 'operator invite links carry the pin');
  return { id: r.body.id, pin: rightPin, link: `${origin}${link.pathname}${link.search}#root=${pin ?? rightPin}` };
}

async function usesLeft(inviteId: string): Promise<number> {
  return Number((await cp.database.db.query('SELECT uses_left FROM install_passes WHERE id = $1', [inviteId])).rows[0].uses_left);
}
async function counts(): Promise<{ devices: number; passes: number }> {
  const q = async (t: string) => Number((await cp.database.db.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
  return { devices: await q('devices'), passes: await q('install_passes') };
}

/**
 * Opens the link, expects the refusal `code` with `sentence`, forces the
 * hidden button once more, and checks that nothing was enrolled, minted or
 * spent and that nothing importable is on the page.
 */
async function assertRefusedBeforeEnroll(page: Page, link: string, code: string, sentence: RegExp, o: { inviteId: string; proxySeen?: string[]; shot?: string; rechecks?: boolean }) {
  const before = await counts();
  const traffic = recordTraffic(page);
  await page.goto(link);
  const box = page.locator(`#problem[data-code="${code}"]`);
  await box.waitFor({ state: 'visible' });
  assert.match(await page.locator('#problem-msg').innerText(), sentence);
  assert.match(await box.innerText(), /Nothing was sent to the service/);
  assert.equal(await page.locator('#start').isVisible(), false, 'no button to press');
  if (o.shot) await screenshots(page, o.shot);
  // Even the hidden button, forced, sends nothing: the check runs again and refuses again.
  const trustRequests = (ex: Exchange[]) => ex.filter((e) => new URL(e.url).pathname.startsWith('/v1/trust/root')).length;
  const beforeForce = trustRequests(await traffic.settled());
  await page.evaluate(() => document.getElementById('go')!.click());
  await box.waitFor({ state: 'visible' });
  const exchanges = await traffic.settled();
  if (o.rechecks !== false) assert.ok(trustRequests(exchanges) > beforeForce, 'the forced press checked the service again');

  const posts = (ex: Exchange[]) => ex.filter((e) => e.method !== 'GET').map((e) => `${e.method} ${new URL(e.url).pathname}`);
  assert.deepEqual(posts(exchanges), [], 'the page sent nothing but GETs');
  assert.ok(!exchanges.some((e) => new URL(e.url).pathname === '/v1/enroll'), 'no request to /v1/enroll');
  if (o.proxySeen) {
    assert.ok(o.proxySeen.length > 0, 'the page went through the proxy');
    assert.deepEqual(o.proxySeen.filter((s) => !s.startsWith('GET ')), [], 'the proxy saw no POST');
    assert.ok(!o.proxySeen.some((s) => s.includes('/v1/enroll') || s.includes('/v1/install-passes')));
  }
  assert.equal(await usesLeft(o.inviteId), 1, 'the invite still has its use');
  assert.deepEqual(await counts(), before, 'no device, no pass');

  assert.equal(await page.locator('#result').isVisible(), false, 'no result');
  assert.equal(await page.locator('#conf').inputValue(), '', 'no config text');
  assert.equal(await page.locator('main svg, main canvas, main img').count(), 0, 'no QR code (svg, canvas or img)');
  assert.doesNotMatch(await page.locator('body').innerText(), /\[Interface\]|PrivateKey|Endpoint =/);
  assert.doesNotMatch(await page.locator('body').innerText(), /\bat \S+ \(|\.(js|ts):\d+|TypeError|undefined|\[object Object\]/);
  return exchanges;
}

test('(a) an invite link whose pin is not this service: nothing enrolled, invite unspent, "made for a different service"', async () => {
  const wrongPin = 'ab'.repeat(32);
  const inv = await invite(cp.url, wrongPin);
  const page = await newPage(browser);
  const exchanges = await assertRefusedBeforeEnroll(page, inv.link, 'trust_pin_mismatch', /This link was made for a different service than the one answering\. Do not use this network to connect; ask the person who sent you the link for a new one\./, {
    inviteId: inv.id,
    shot: '30-trust-pin-mismatch',
  });
  assert.equal(await page.locator('#retry').isVisible(), false, 'retrying cannot make a wrong pin right');
  assert.equal(await page.locator('#tofu-note').isVisible(), false, 'a pinned link is not trust on first use');
  // The pin never left the page, and the page did not ask the server which root to trust.
  for (const ex of exchanges) {
    assert.ok(!ex.url.includes(wrongPin) && !ex.requestBody.includes(wrongPin) && !JSON.stringify(ex.requestHeaders).includes(wrongPin), `pin sent to ${ex.url}`);
    assert.notEqual(new URL(ex.url).pathname, '/v1/trust');
  }
  await page.context().close();
});

test('a cut-off pin in the link: refused in its own words, nothing enrolled', async () => {
  const inv = await invite(cp.url, 'a'.repeat(40));
  const page = await newPage(browser);
  await assertRefusedBeforeEnroll(page, inv.link, 'trust_pin_malformed', /incomplete, so this page cannot check who is answering/, { inviteId: inv.id, rechecks: false });
  await page.context().close();
});

test('(b) right pin, but the server serves a forged root (a root v2 by other keys, or root v1 with its signature replaced): nothing enrolled', async (t) => {
  // The attacker's own root v2 would certify its own catalog key; the catalog it serves is signed by that key.
  const attackerRoot = generateSigningKey();
  const attackerCatalog = generateSigningKey();
  const rootV1 = (await cp.call('GET', '/v1/trust/root/1.json')).body as Envelope;
  const input = rootToInput(parseRootDocument(payloadOf(rootV1)));
  const win = { publicKey: attackerCatalog.publicKey, notBefore: new Date(Date.now() - 3600_000), notAfter: new Date(Date.now() + 86400_000) };
  const forgedV2 = signRoot(buildRoot({ ...input, version: 2, root: { keys: [attackerRoot.publicKey], threshold: 1 }, catalog: { keys: [win], threshold: 1 } }), [attackerRoot]);
  const evilCatalog = (b: Buffer) => {
    const c = payloadOf<CatalogPayload>(json(b));
    c.frontDoors = c.frontDoors.map((d) => ({ ...d, endpoint: '203.0.113.66:51820', publicKey: wgKey() }));
    return signCatalog(c, [attackerCatalog]);
  };
  const proxy = await attackerProxy(t, { '/v1/trust/root.json': () => forgedV2, '/v1/trust/root/2.json': () => forgedV2, '/v1/catalog': evilCatalog });
  const inv = await invite(proxy.url);
  const page = await newPage(browser);
  await assertRefusedBeforeEnroll(page, inv.link, 'trust_root_invalid', /The service's keys did not pass the check in this page, so someone may be tampering with your connection to it\./, {
    inviteId: inv.id,
    proxySeen: proxy.seen,
    shot: '31-trust-root-forged',
  });
  assert.ok(proxy.rewritten.some((u) => u.startsWith('/v1/trust/root')), 'the forged root was served');
  assert.match(await page.locator('#posture-catalog').innerText(), /could not be verified/);
  await page.context().close();

  // Root v1 itself altered: the same payload (so the pin still matches) under the attacker's signature.
  const altered = signEnvelope(PAYLOAD_TYPES.root, fromBase64(rootV1.payload)!, [attackerRoot]);
  assert.equal(altered.payload, rootV1.payload);
  const proxy2 = await attackerProxy(t, { '/v1/trust/root/1.json': () => altered });
  const inv2 = await invite(proxy2.url);
  const page2 = await newPage(browser);
  await assertRefusedBeforeEnroll(page2, inv2.link, 'trust_root_invalid', /did not pass the check/, { inviteId: inv2.id, proxySeen: proxy2.seen });
  assert.ok(proxy2.rewritten.includes('/v1/trust/root/1.json'), 'the altered root v1 was served');
  await page2.context().close();
});

test('(c) right pin, but the server replays an expired catalog genuinely signed by the service: nothing enrolled', async (t) => {
  const catalogKey = (await readOnlineKeyFiles(cp.dataDir)).find((k) => k.role === 'catalog')!.key;
  const expired = (b: Buffer) => {
    const c = payloadOf<CatalogPayload>(json(b));
    return signCatalog({ ...c, issuedAt: new Date(Date.now() - 2 * 86400_000).toISOString(), expiresAt: new Date(Date.now() - 86400_000).toISOString() }, [catalogKey]);
  };
  const proxy = await attackerProxy(t, { '/v1/catalog': expired });
  const inv = await invite(proxy.url);
  const page = await newPage(browser);
  await assertRefusedBeforeEnroll(page, inv.link, 'trust_catalog_expired', /The service sent a list of gateways that has expired \(it was valid until .+\): either the service has a problem, or someone is replaying an old list to you\./, {
    inviteId: inv.id,
    proxySeen: proxy.seen,
    shot: '32-trust-catalog-expired',
  });
  assert.ok(proxy.rewritten.includes('/v1/catalog'));
  await page.context().close();
});

test('(d) right pin, but the catalog is re-signed by a key the root does not certify: nothing enrolled', async (t) => {
  const attacker = generateSigningKey();
  const resigned = (b: Buffer) => {
    const c = payloadOf<CatalogPayload>(json(b));
    c.frontDoors = c.frontDoors.map((d) => ({ ...d, endpoint: '203.0.113.66:51820' }));
    return signCatalog(c, [attacker]);
  };
  const proxy = await attackerProxy(t, { '/v1/catalog': resigned });
  const inv = await invite(proxy.url);
  const page = await newPage(browser);
  await assertRefusedBeforeEnroll(page, inv.link, 'trust_catalog_invalid', /The service's list of gateways is not signed by the service's own keys, so someone may be changing it on the way to you\./, {
    inviteId: inv.id,
    proxySeen: proxy.seen,
    shot: '33-trust-catalog-resigned',
  });
  assert.ok(proxy.rewritten.includes('/v1/catalog'));
  assert.doesNotMatch(await page.content(), /203\.0\.113\.66/, "the attacker's endpoint appears nowhere");
  await page.context().close();
});

test('the same proxy passing everything through: the right pin connects, and the invite is spent once', async (t) => {
  const proxy = await attackerProxy(t, {});
  const inv = await invite(proxy.url);
  const page = await newPage(browser);
  const traffic = recordTraffic(page);
  await page.goto(inv.link);
  assert.equal(await page.locator('#tofu-note').isVisible(), false);
  await page.locator('#posture-catalog[data-verified="true"]').waitFor();
  await page.locator('#go').click();
  await page.locator('#result').waitFor({ state: 'visible' });
  assert.match(await page.locator('#conf').inputValue(), new RegExp(`^PublicKey = ${GATEWAY_KEY.replace(/[+/]/g, '\\$&')}$`, 'm'));
  assert.equal(await page.locator('#qr svg').count(), 1);
  assert.equal(await usesLeft(inv.id), 0);
  // Verified before enrolling: every trust request precedes the enrollment.
  const paths = (await traffic.settled()).map((e) => new URL(e.url).pathname);
  const enrollAt = paths.indexOf('/v1/enroll');
  assert.ok(enrollAt > paths.indexOf('/v1/catalog') && enrollAt > paths.indexOf('/v1/trust/root/1.json'), `order: ${paths.join(', ')}`);
  assert.deepEqual(proxy.seen.filter((s) => s.startsWith('POST')), ['POST /v1/enroll']);
  await page.context().close();
});

test('without a pin: one plain sentence above the button says this server is trusted on first use, and the flow works', async () => {
  const page = await newPage(browser);
  await page.goto(`${cp.url}/get/`);
  const note = page.locator('#tofu-note');
  await note.waitFor({ state: 'visible' });
  assert.match(await note.innerText(), /^[^.]*trusts the server answering now on first use\.$/);
  const [n, b] = [await note.boundingBox(), await page.locator('#go').boundingBox()];
  assert.ok(n && b && n.y + n.height <= b.y, 'the sentence is above the button');
  await page.locator('#posture-catalog[data-verified="true"]').waitFor();
  await page.locator('#go').click();
  await page.locator('#result').waitFor({ state: 'visible' });
  await page.context().close();
});
