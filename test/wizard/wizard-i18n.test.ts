/**
 * The wizard in the visitor's language (issue 13, point 5; docs/wizard.md
 * "Languages"): every catalog complete against the English source, its
 * placeholders and commands kept, no English sentence left; each language
 * loads in real Chromium against a real control plane, from this origin
 * only, picked from the browser's languages; the switch keeps the page's
 * state (no reload, no second enrollment, same keys); Persian lays out right
 * to left (screenshots in docs/screens/).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { x25519 } from '@noble/curves/ed25519.js';
import type { Page } from 'playwright-core';
import { EN, type MessageKey } from '../../src/wizard/messages/en.js';
import { directionOf, formatMessage, LANGUAGES, pickLanguage } from '../../src/wizard/i18n.js';
import { registerTestGateway, startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { newPage, recordTraffic, renderedPrivateKey, requireBuiltWizard, useBrowser, VIEWPORTS } from '../helpers/browser.js';
import { WIZARD_CSP } from '../../src/control-plane/routes/wizard.js';

const MESSAGES = path.resolve('src/wizard/messages');
// The screenshots kept in the repository are refreshed on purpose (DAMM_UPDATE_SCREENS=1), not by every run.
const SCREENS = path.resolve(process.env['DAMM_UPDATE_SCREENS'] ? 'docs/screens' : 'test-artifacts/wizard');
const catalogs = Object.fromEntries(
  readdirSync(MESSAGES)
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f.slice(0, -5), JSON.parse(readFileSync(path.join(MESSAGES, f), 'utf8')) as Record<string, string>]),
);
const enKeys = Object.keys(EN) as MessageKey[];

/** Parameter names a message uses: `{name}` and `{name, plural, …}`. */
const paramsOf = (m: string) => new Set([...m.matchAll(/\{\s*([A-Za-z]\w*)\s*[,}]/g)].map((x) => x[1]!));
/** The `backticked` commands of a message, which must be copied exactly. */
const commandsOf = (m: string) => [...m.matchAll(/`([^`]*)`/g)].map((x) => x[1]!.replace(/\{(\w+)\}/g, '<$1>'));
/** Sample parameters for every name a message may use. */
const SAMPLE: Record<string, string | number> = new Proxy({}, { get: (_t, k) => (k === 'n' || k === 'total' || k === 'doors' || k === 'online' || k === 'version' || k === 'root' || k === 'ms' ? 3 : `«${String(k)}»`), has: () => true });

/**
 * Names that stay as they are in every language: products, protocols, file
 * and folder names the apps themselves show untranslated, units. Anything
 * else written in Latin letters inside a Russian, Persian or Chinese message
 * is English left behind.
 */
const KEEP = /\b(DAMM|WireGuard|AmneziaWG|Google Play|F-Droid|Mac App Store|App Store|iPhone|iPad|Android|Windows|Linux|Mac|VPN|UDP|TCP|TLS|HTTPS|WebSocket|QR|Wi-Fi|Cookie|cookie|Ctrl|ms|T1|Downloads|openresolv|resolvconf|wg-quick|domain fronting|GitHub|amnezia\.org|amneziawg-windows-client)\b/g;

test('every shipped language has exactly the English keys, the same placeholders and the same commands', () => {
  assert.deepEqual(Object.keys(catalogs).sort(), LANGUAGES.map((l) => l.tag).filter((t) => t !== 'en').sort(), 'a catalog for every language in the switch, and no other');
  for (const [lang, cat] of Object.entries(catalogs)) {
    const missing = enKeys.filter((k) => typeof cat[k] !== 'string' || cat[k]!.trim() === '');
    const extra = Object.keys(cat).filter((k) => !(k in EN));
    assert.deepEqual(missing, [], `${lang}: missing keys`);
    assert.deepEqual(extra, [], `${lang}: keys English does not have`);
    for (const k of enKeys) {
      const m = cat[k]!;
      assert.deepEqual([...paramsOf(m)].sort(), [...paramsOf(EN[k])].sort(), `${lang} ${k}: placeholders`);
      assert.deepEqual(commandsOf(m), commandsOf(EN[k]), `${lang} ${k}: commands are copied exactly`);
      const out = formatMessage(m, SAMPLE, lang);
      assert.doesNotMatch(out, /[{}]/, `${lang} ${k}: a brace left after formatting: ${out}`);
    }
  }
});

test('no English sentence is left in the translated catalogs (guides, problems, tests, everything)', () => {
  const sameAsEnglish: string[] = [];
  const latinLeft: string[] = [];
  const englishWords: string[] = [];
  for (const [lang, cat] of Object.entries(catalogs)) {
    for (const k of enKeys) {
      const m = cat[k]!;
      // Only the T0 tier is a bare product name in every language.
      if (m === EN[k] && k !== 'tier.T0') sameAsEnglish.push(`${lang} ${k}`);
      const prose = m.replace(/`[^`]*`/g, ' ').replace(/\{[^{}]*(\{[^{}]*\}[^{}]*)*\}/g, ' ').replace(/\S+\.(com|conf)\S*/g, ' ').replace(/#root=/g, ' ');
      if (lang !== 'tr') {
        const left = prose.replace(KEEP, ' ').match(/[A-Za-z]{3,}/g);
        if (left) latinLeft.push(`${lang} ${k}: ${left.join(' ')}`);
      }
      const en = prose.match(/\b(the|and|your|you|this|with|from|not|please|try|again|connection|service|link|invite)\b/gi);
      if (en) englishWords.push(`${lang} ${k}: ${en.join(' ')}`);
    }
  }
  assert.deepEqual(sameAsEnglish, [], 'messages identical to the English source');
  assert.deepEqual(latinLeft, [], 'Latin words left in ru/fa/zh-CN messages beyond product names');
  assert.deepEqual(englishWords, [], 'English words in translated messages');
});

test('messages: placeholders, plural forms by the language\'s own rules, and the language picked from the browser', () => {
  const ru = catalogs['ru']!['posture.region']!;
  const forms = [1, 2, 5, 21].map((n) => formatMessage(ru, { place: 'X', online: 1, total: n, tier: 'T' }, 'ru'));
  assert.deepEqual(forms, ['X: в сети 1 из 1 шлюза, T', 'X: в сети 1 из 2 шлюзов, T', 'X: в сети 1 из 5 шлюзов, T', 'X: в сети 1 из 21 шлюза, T']);
  assert.equal(formatMessage(EN['posture.region'], { place: 'NL', online: 1, total: 1, tier: 'T0' }, 'en'), 'NL: 1 of 1 gateway online, T0');
  assert.equal(formatMessage(EN['posture.region'], { place: 'NL', online: 0, total: 2, tier: 'T0' }, 'en'), 'NL: 0 of 2 gateways online, T0');
  assert.equal(formatMessage('{a} and {b}', { a: 'x' }, 'en'), 'x and {b}', 'a missing parameter shows, it does not vanish');
  assert.equal(formatMessage('{n, plural, =0 {none} one {# item} other {# items}}', { n: 0 }, 'en'), 'none');
  assert.equal(formatMessage('{n, plural, one {# item} other {# items}}', { n: 1200 }, 'fa'), '۱٬۲۰۰ items', 'numbers in the language\'s digits');
  assert.equal(pickLanguage(['fa-IR', 'en']), 'fa');
  assert.equal(pickLanguage(['de-DE', 'ru-RU']), 'ru');
  assert.equal(pickLanguage(['zh-Hans-CN']), 'zh-CN');
  assert.equal(pickLanguage(['zh-TW', 'tr']), 'tr', 'Traditional Chinese readers do not get Simplified');
  assert.equal(pickLanguage(['ar', 'de']), 'en');
  assert.equal(directionOf('fa'), 'rtl');
  assert.equal(directionOf('ar-EG'), 'rtl');
  assert.equal(directionOf('ru'), 'ltr');
});

const browser = await useBrowser();
const GATEWAY_KEY = Buffer.from(x25519.getPublicKey(x25519.utils.randomSecretKey())).toString('base64');
let cp: TestControlPlane;
before(async () => {
  cp = await startTestControlPlane({ config: { gatewayOfflineAfterSeconds: 3600, mintLimitPerHour: 100 } });
  await registerTestGateway(cp, { region: 'NL', country: 'NL', publicKey: GATEWAY_KEY, host: '192.0.2.10' });
});
after(() => cp?.stop());

const messageOf = (lang: string, key: MessageKey) => (lang === 'en' ? EN[key] : catalogs[lang]![key]!);

async function waitForLanguage(page: Page, lang: string): Promise<void> {
  await page.waitForFunction(([l, h1]) => document.documentElement.lang === l && document.querySelector('h1')?.textContent === h1, [lang, messageOf(lang, 'page.h1')] as const);
}

test('each language loads from the browser\'s preference, from this origin only, with lang and dir on <html>', async () => {
  const built = requireBuiltWizard() as ReturnType<typeof requireBuiltWizard> & { locales: Record<string, string> };
  for (const { tag } of LANGUAGES) {
    const locale = tag === 'fa' ? 'fa-IR' : tag === 'en' ? 'en-US' : tag === 'tr' ? 'tr-TR' : tag === 'ru' ? 'ru-RU' : 'zh-CN';
    const page = await newPage(browser, { locale });
    const traffic = recordTraffic(page);
    await page.goto(`${cp.url}/get/`);
    await waitForLanguage(page, tag);
    await page.locator('#posture-catalog[data-verified="true"]').waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.dir), directionOf(tag));
    assert.equal(await page.locator('#lang').inputValue(), tag, 'the switch shows the language in use');
    assert.equal(await page.title(), messageOf(tag, 'page.title'));
    assert.equal(await page.locator('#go').innerText(), messageOf(tag, 'page.go'));
    assert.equal(await page.locator('#tofu-note').innerText(), messageOf(tag, 'page.tofu'));
    const exchanges = await traffic.settled();
    for (const ex of exchanges) assert.ok(ex.url.startsWith(`${cp.url}/`), `request to another origin: ${ex.url}`);
    const catalogsFetched = exchanges.filter((e) => e.url.includes('/i18n-')).map((e) => new URL(e.url).pathname);
    assert.deepEqual(catalogsFetched, tag === 'en' ? [] : [`/get/${built.locales[tag]}`], 'English is bundled; another language is one same-origin file');
    if (tag !== 'en') {
      const ex = exchanges.find((e) => e.url.includes('/i18n-'))!;
      assert.equal(ex.status, 200);
      assert.equal(ex.responseHeaders['content-security-policy'], WIZARD_CSP);
      assert.match(ex.responseHeaders['content-type'] ?? '', /application\/json/);
    }
    assert.deepEqual(traffic.console.filter((c) => /Content Security Policy|Refused to/i.test(c)), []);
    assert.deepEqual(traffic.consoleErrors, []);
    await page.context().close();
  }
});

test('switching the language keeps the page: same keys, same enrollment, same step, no reload; Persian lays out right to left', async () => {
  const page = await newPage(browser, { locale: 'en-US' });
  const traffic = recordTraffic(page);
  await page.goto(`${cp.url}/get/`);
  await page.locator('#posture-catalog[data-verified="true"]').waitFor();
  await page.locator('#go').click();
  await page.locator('#result').waitFor({ state: 'visible' });
  await page.getByLabel('Windows').check();
  await page.locator('#test').click();
  await page.locator('#test-result[data-verdict="not-through-damm"]').waitFor();
  const conf = await page.locator('#conf').inputValue();
  const key = await renderedPrivateKey(page);
  await page.evaluate(() => ((window as unknown as { stayed: number }).stayed = 42));

  for (const lang of ['ru', 'zh-CN', 'tr', 'fa'] as const) {
    await page.locator('#lang').selectOption(lang);
    await waitForLanguage(page, lang);
    assert.equal(await page.evaluate(() => (window as unknown as { stayed?: number }).stayed), 42, `${lang}: the page was not reloaded`);
    assert.ok(await page.locator('#result').isVisible(), `${lang}: still on the result`);
    assert.equal(await page.locator('#conf').inputValue(), conf, `${lang}: the same config, the same key`);
    assert.equal(await page.locator('#result-h').innerText(), messageOf(lang, 'page.resultH'));
    assert.equal(await page.locator('input[name="platform"]:checked').getAttribute('value'), 'windows', `${lang}: the platform chosen by hand stays`);
    assert.equal(await page.locator('#steps li').first().innerText(), formatMessage(messageOf(lang, 'steps.windows.1'), {}, lang));
    assert.equal(await page.locator('#test-result .verdict').innerText(), messageOf(lang, 'test.no'), `${lang}: the test result is re-worded, not lost`);
    assert.equal(await page.locator('#download').innerText(), formatMessage(messageOf(lang, 'result.download'), { file: 'damm-NL.conf' }, lang));
  }
  assert.equal(await renderedPrivateKey(page), key);
  const exchanges = await traffic.settled();
  assert.equal(exchanges.filter((e) => e.url.endsWith('/v1/enroll')).length, 1, 'one enrollment, whatever the language');
  assert.equal(exchanges.filter((e) => new URL(e.url).pathname === '/get/').length, 1, 'the page was loaded once');

  // Persian: right to left, laid out with logical properties.
  assert.equal(await page.evaluate(() => document.documentElement.dir), 'rtl');
  assert.equal(await page.evaluate(() => getComputedStyle(document.body).direction), 'rtl');
  const steps = await page.evaluate(() => {
    const s = getComputedStyle(document.getElementById('steps')!);
    return { right: parseFloat(s.paddingRight), left: parseFloat(s.paddingLeft) };
  });
  assert.ok(steps.right > 0 && steps.left === 0, `list markers on the right in rtl: ${JSON.stringify(steps)}`);
  const edges = await page.evaluate(() => {
    const h1 = document.querySelector('h1')!;
    const range = document.createRange();
    range.selectNodeContents(h1);
    const text = range.getBoundingClientRect();
    const box = h1.getBoundingClientRect();
    return { textRight: text.right, boxRight: box.right, textLeft: text.left, boxLeft: box.left };
  });
  assert.ok(Math.abs(edges.textRight - edges.boxRight) < 2 && edges.textLeft - edges.boxLeft > 20, `the heading's text starts at the right edge: ${JSON.stringify(edges)}`);
  await page.getByLabel('Linux').check();
  assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('#steps code')!).direction), 'ltr', 'commands stay left to right');
  assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById('conf')!).direction), 'ltr', 'the config text stays left to right');
  mkdirSync(SCREENS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENS, 'wizard-fa-ready-desktop.png'), fullPage: true });
  await page.setViewportSize(VIEWPORTS.phone);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no horizontal scrolling on a phone in Persian');
  await page.screenshot({ path: path.join(SCREENS, 'wizard-fa-ready-phone.png'), fullPage: false });

  // And back to English: nothing lost on the way.
  await page.locator('#lang').selectOption('en');
  await waitForLanguage(page, 'en');
  assert.equal(await page.evaluate(() => document.documentElement.dir), 'ltr');
  assert.equal(await page.locator('#conf').inputValue(), conf);
  await page.context().close();
});

test('the Persian start page and a Persian refusal, as a Persian reader first sees them', async () => {
  const page = await newPage(browser, { locale: 'fa-IR' });
  await page.goto(`${cp.url}/get/#root=${'ab'.repeat(32)}`);
  await waitForLanguage(page, 'fa');
  await page.locator('#problem[data-code="trust_pin_mismatch"]').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#problem-msg').innerText(), catalogs['fa']!['trust.pinMismatch.message']);
  assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById('problem')!).borderRightWidth), '6px', 'the red edge is on the reading side');
  await page.screenshot({ path: path.join(SCREENS, 'wizard-fa-refusal-desktop.png'), fullPage: true });
  await page.context().close();
});
