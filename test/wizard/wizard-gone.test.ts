/**
 * Honesty when a door is gone for good (issue 16 point 3): after the
 * operator removes the gateway a device was placed on, with no replacement,
 * the wizard's connection test says in words that this config no longer
 * leads anywhere and what to do, in the page's language, instead of
 * suggesting the tunnel is merely switched off.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { x25519 } from '@noble/curves/ed25519.js';
import { registerTestGateway, startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { newPage, useBrowser } from '../helpers/browser.js';

const browser = await useBrowser();
let cp: TestControlPlane;
let gatewayId: string;

before(async () => {
  cp = await startTestControlPlane({ config: { gatewayOfflineAfterSeconds: 3600, mintLimitPerHour: 100 } });
  const key = Buffer.from(x25519.getPublicKey(x25519.utils.randomSecretKey())).toString('base64');
  gatewayId = (await registerTestGateway(cp, { region: 'NL', country: 'NL', publicKey: key, host: '192.0.2.10', egressIps: ['192.0.2.10'] })).gatewayId;
});
after(() => cp?.stop());

test('a config whose gateway was removed: the test says it leads nowhere and to get a new one, also after a language switch', async () => {
  const page = await newPage(browser);
  await page.goto(`${cp.url}/get/`);
  await page.locator('#posture-catalog[data-verified]').waitFor();
  await page.locator('#go').click();
  await page.locator('#result').waitFor({ state: 'visible' });

  // Before the removal the test gives the ordinary "not through DAMM" advice.
  await page.locator('#test').click();
  await page.locator('#test-result[data-verdict="not-through-damm"]').waitFor();
  assert.doesNotMatch(await page.locator('#test-result').innerText(), /no longer leads anywhere/);

  const removed = await cp.op('POST', `/v1/operator/gateways/${gatewayId}/remove`, {});
  assert.equal(removed.status, 200, JSON.stringify(removed.body));
  await page.locator('#test').click();
  await page.waitForFunction(() => /no longer leads anywhere/.test(document.querySelector('#test-result')?.textContent ?? ''));
  const text = await page.locator('#test-result').innerText();
  assert.match(text, /This configuration no longer leads anywhere: the gateway it points to has been taken out of service for good\./);
  assert.match(text, /Get a new configuration on this page, import it, and delete the old tunnel "damm-NL"/);
  assert.doesNotMatch(text, /switch on/, 'no advice that cannot help');

  await page.locator('#lang').selectOption('ru');
  await page.waitForFunction(() => /больше никуда не ведёт/.test(document.querySelector('#test-result')?.textContent ?? ''));
  await page.context().close();
});
