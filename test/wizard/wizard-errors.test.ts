/**
 * Every failure the wizard can meet renders something a person can act on,
 * forced for real against a control plane configured to refuse: invite-only,
 * a mint limit of one, no gateway, used / expired / unknown / cut-off
 * invites, a stopped server and a server-side failure. Each state is
 * screenshotted at phone and desktop sizes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { x25519 } from '@noble/curves/ed25519.js';
import type { Page } from 'playwright-core';
import { ManualClock } from '../../src/core/clock.js';
import { registerTestGateway, startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { newPage, recordTraffic, screenshots, useBrowser } from '../helpers/browser.js';

const browser = await useBrowser();
const wgKey = () => Buffer.from(x25519.getPublicKey(x25519.utils.randomSecretKey())).toString('base64');

async function withControlPlane(opts: Parameters<typeof startTestControlPlane>[0], fn: (cp: TestControlPlane) => Promise<void>) {
  const cp = await startTestControlPlane({ ...opts, config: { gatewayOfflineAfterSeconds: 3600, ...opts?.config } });
  try {
    await fn(cp);
  } finally {
    await cp.stop();
  }
}

/** The problem panel with this code is shown, with a heading, a message and no stack trace or raw error. */
async function problem(page: Page, code: string): Promise<string> {
  const box = page.locator(`#problem[data-code="${code}"]`);
  await box.waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'problem-h', 'focus moves to the problem');
  const text = await box.innerText();
  assert.ok((await page.locator('#problem-h').innerText()).trim().length > 0);
  assert.ok((await page.locator('#problem-msg').innerText()).trim().length > 0);
  const body = await page.locator('body').innerText();
  assert.doesNotMatch(body, /\bat \S+ \(|\.(js|ts):\d+|TypeError|ReferenceError|undefined|\[object Object\]/);
  return text;
}

/** A way forward is always offered: a usable retry, an invite field or a public pass. */
async function assertNoDeadEnd(page: Page) {
  const retry = page.locator('#retry');
  const ways = [
    (await retry.isVisible()) && !(await retry.isDisabled()),
    await page.locator('#invite-form').isVisible(),
    await page.locator('#go-public').isVisible(),
  ];
  assert.ok(ways.some(Boolean), 'no way forward offered');
}

test('invite-only service: says so before anything is pressed, takes a pasted invite, refuses a cut-off one', async () => {
  await withControlPlane({ config: { publicMinting: false } }, async (cp) => {
    await registerTestGateway(cp, { publicKey: wgKey() });
    const page = await newPage(browser);
    const traffic = recordTraffic(page);
    await page.goto(`${cp.url}/get/`);
    const text = await problem(page, 'public_minting_disabled');
    assert.match(text, /This service is invite-only/);
    assert.match(text, /Ask them for an invite link/);
    assert.ok(await page.locator('#invite-form').isVisible());
    assert.ok(await page.locator('#retry').isHidden(), 'no pointless retry');
    await screenshots(page, '20-error-invite-only');

    // A cut-off invite is refused in the page, with the reason next to the field.
    await page.getByLabel('Invite link or code').fill(`${cp.url}/get/?invite=dp_short`);
    await page.getByRole('button', { name: 'Use this invite' }).click();
    assert.match(await page.locator('#invite-err').innerText(), /does not look like a whole DAMM invite/);
    assert.equal(await page.getByLabel('Invite link or code').getAttribute('aria-invalid'), 'true');
    await screenshots(page, '21-error-invite-field');

    // The whole link pasted: enrolled.
    const invite = await cp.op('POST', '/v1/operator/invites', { uses: 1 });
    await page.getByLabel('Invite link or code').fill(invite.body.link);
    await page.getByRole('button', { name: 'Use this invite' }).click();
    await page.locator('#result').waitFor({ state: 'visible' });
    const posts = (await traffic.settled()).filter((e) => e.method === 'POST').map((e) => new URL(e.url).pathname);
    assert.deepEqual(posts, ['/v1/enroll'], 'no public mint attempted on an invite-only service');
    await page.context().close();
  });
});

test('invite-only service: a mint refused by the server (posture not yet known) renders the same invite-only state', async () => {
  await withControlPlane({ config: { publicMinting: false } }, async (cp) => {
    const page = await newPage(browser);
    await page.route('**/v1/posture', (r) => r.abort('connectionfailed'));
    await page.goto(`${cp.url}/get/`);
    await page.locator('#posture-summary', { hasText: 'could not be loaded' }).waitFor();
    await page.locator('#go').click();
    assert.match(await problem(page, 'public_minting_disabled'), /invite-only/);
    await assertNoDeadEnd(page);
    await page.context().close();
  });
});

test('rate limited: says when to try again, holds the retry until then, and offers an invite instead', async () => {
  await withControlPlane({ config: { mintLimitPerHour: 1 } }, async (cp) => {
    await registerTestGateway(cp, { publicKey: wgKey() });
    assert.equal((await cp.call('POST', '/v1/install-passes')).status, 201); // this network's one pass this hour
    const page = await newPage(browser);
    await page.goto(`${cp.url}/get/`);
    await page.locator('#go').click();
    const text = await problem(page, 'rate_limited');
    assert.match(text, /Too many new connections from your network/);
    assert.match(text, /You can try again at \d{1,2}:\d{2}.* \(in \d+ minutes\)/);
    const retry = page.locator('#retry');
    assert.ok(await retry.isDisabled(), 'retry held until the service allows it');
    assert.match(await retry.innerText(), /Try again \(in \d+ minutes\)/);
    assert.ok(await page.locator('#invite-form').isVisible(), 'an invite is offered as another way');
    assert.match(await page.locator('#problem-ref').innerText(), /Reference for the people who run this service: \S+/);
    await screenshots(page, '22-error-rate-limited');
    await assertNoDeadEnd(page);
    await page.context().close();
  });
});

test('no gateway available: says nothing was used up, retry works once a gateway is back, and the same pass is reused', async () => {
  await withControlPlane({ config: { mintLimitPerHour: 1 } }, async (cp) => {
    const page = await newPage(browser);
    const traffic = recordTraffic(page);
    await page.goto(`${cp.url}/get/`);
    await page.locator('#posture[data-status="down"]').waitFor();
    await page.locator('#go').click();
    const text = await problem(page, 'no_gateway_available');
    assert.match(text, /No gateway is available right now/);
    assert.match(text, /Nothing was used up/);
    await screenshots(page, '23-error-no-gateway');
    await registerTestGateway(cp, { publicKey: wgKey() });
    await page.locator('#retry').click();
    await page.locator('#result').waitFor({ state: 'visible' });
    const mints = (await traffic.settled()).filter((e) => e.url.endsWith('/v1/install-passes'));
    assert.equal(mints.length, 1, 'the unused pass was kept for the retry (the mint limit here is 1)');
    await page.context().close();
  });
});

test('used, expired and unknown invites: each says what happened, asks for a new invite, and offers a public pass', async () => {
  const clock = new ManualClock(new Date());
  await withControlPlane({ clock }, async (cp) => {
    await registerTestGateway(cp, { publicKey: wgKey() });

    const used = await cp.op('POST', '/v1/operator/invites', { uses: 1 });
    assert.equal((await cp.call('POST', '/v1/enroll', { installPass: used.body.token, publicKey: wgKey() })).status, 201);
    const expired = await cp.op('POST', '/v1/operator/invites', { uses: 5, expiresInSeconds: 60 });
    clock.advance(120);
    const unknown = `${cp.url}/get/?invite=dp_${'x'.repeat(30)}`;

    const cases: [string, string, RegExp, string][] = [
      [used.body.link, 'pass_used', /This invite has already been used/, '24-error-invite-used'],
      [expired.body.link, 'pass_expired', /This invite has expired/, '25-error-invite-expired'],
      [unknown, 'invalid_pass', /This invite doesn’t work/, '26-error-invite-unknown'],
    ];
    for (const [link, code, title, shot] of cases) {
      const page = await newPage(browser);
      await page.goto(link);
      await page.locator('#go').click();
      const text = await problem(page, code);
      assert.match(text, title);
      assert.match(text, /Ask the person who sent it for a new invite/);
      assert.ok(await page.locator('#retry').isHidden(), 'retrying the same invite cannot help');
      assert.ok(await page.locator('#invite-form').isVisible());
      assert.ok(await page.locator('#go-public').isVisible(), 'public enrollment is on: offer it');
      await screenshots(page, shot);
      if (code === 'pass_used') {
        await page.locator('#go-public').click();
        await page.locator('#result').waitFor({ state: 'visible' });
        assert.ok(await page.locator('#invite-note').isHidden());
      }
      await page.context().close();
    }
  });
});

test('an invite cut off in the link is caught in the page, never sent', async () => {
  await withControlPlane({}, async (cp) => {
    const page = await newPage(browser);
    const traffic = recordTraffic(page);
    await page.goto(`${cp.url}/get/?invite=dp_cutoff`);
    const text = await problem(page, 'invite_malformed');
    assert.match(text, /This invite link is incomplete/);
    assert.equal(new URL(page.url()).search, '');
    await screenshots(page, '27-error-invite-malformed');
    for (const ex of await traffic.settled()) {
      if (new URL(ex.url).pathname !== '/get/') assert.ok(!ex.url.includes('dp_cutoff') && !ex.requestBody.includes('dp_cutoff'), `sent to ${ex.url}`);
    }
    await page.context().close();
  });
});

test('server unreachable (stopped): says so in words with a retry that keeps working', async () => {
  const cp = await startTestControlPlane();
  let stopped = false;
  try {
    const page = await newPage(browser);
    await page.goto(`${cp.url}/get/`);
    await page.locator('#posture-catalog[data-verified]').waitFor();
    await cp.stop();
    stopped = true;
    await page.locator('#go').click();
    const text = await problem(page, 'network');
    assert.match(text, /We can’t reach DAMM/);
    assert.match(text, /Check that you are online, then try again/);
    await screenshots(page, '28-error-network');
    await page.locator('#retry').click();
    await problem(page, 'network');
    await assertNoDeadEnd(page);
    await page.context().close();
  } finally {
    if (!stopped) await cp.stop();
  }
});

test('a failure on the server side: plain words and a reference, never the server internals', async () => {
  await withControlPlane({}, async (cp) => {
    await registerTestGateway(cp, { publicKey: wgKey() });
    const page = await newPage(browser);
    await page.route('**/v1/enroll', (r) =>
      r.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: { code: 'internal', message: 'Something went wrong on our side.', requestId: 'req-12345678' } }) }),
    );
    await page.goto(`${cp.url}/get/`);
    await page.locator('#go').click();
    const text = await problem(page, 'internal');
    assert.match(text, /Something went wrong on DAMM’s side/);
    assert.match(text, /req-12345678/);
    await screenshots(page, '29-error-server');
    await page.unroute('**/v1/enroll');
    await page.locator('#retry').click();
    await page.locator('#result').waitFor({ state: 'visible' });
    await page.context().close();
  });
});
