/**
 * The wizard's pure pieces and its build output, without a browser: invite
 * parsing, platform detection, the error catalogue, and the built assets
 * (JavaScript budget, nothing from other origins, no TypeBox in the page).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ERROR_CODES } from '../../src/core/errors.js';
import { tunnelName } from '../../src/core/wg-config.js';
import { parseInvite, parseRootPin } from '../../src/wizard/invite.js';
import { detectPlatform, importSteps, PLATFORMS } from '../../src/wizard/platform.js';
import { describeProblem } from '../../src/wizard/problems.js';
import { ApiError, NetworkError } from '../../src/wizard/api.js';
import { requireBuiltWizard, WIZARD_DIST } from '../helpers/browser.js';

const TOKEN = `dp_${'A'.repeat(30)}`;

test('an invite is taken from a whole link, a fragment link or a bare code; anything cut off is refused', () => {
  assert.deepEqual(parseInvite(`https://damm.example/get/?invite=${TOKEN}`), { token: TOKEN });
  assert.deepEqual(parseInvite(`  https://damm.example/get/?a=1&invite=${TOKEN}&b=2 `), { token: TOKEN });
  assert.deepEqual(parseInvite(`https://damm.example/get/#invite=${TOKEN}`), { token: TOKEN });
  assert.deepEqual(parseInvite(TOKEN), { token: TOKEN });
  assert.equal(parseInvite('   '), null);
  assert.deepEqual(parseInvite(TOKEN.slice(0, 20)), { malformed: true });
  assert.deepEqual(parseInvite('https://damm.example/get/?invite=%E0%A4%A'), { malformed: true });
  assert.deepEqual(parseInvite(`${TOKEN}<script>`), { malformed: true });
});

test('invite links with the root pin in the fragment: the invite and the pin are both read, from either place', () => {
  const PIN = 'c5'.repeat(32);
  assert.deepEqual(parseInvite(`https://damm.example/get/?invite=${TOKEN}#root=${PIN}`), { token: TOKEN });
  assert.deepEqual(parseInvite(`https://damm.example/get/#invite=${TOKEN}&root=${PIN}`), { token: TOKEN });
  assert.deepEqual(parseInvite(`https://damm.example/get/#root=${PIN}&invite=${TOKEN}`), { token: TOKEN });
  assert.deepEqual(parseRootPin(`#root=${PIN}`), { sha256: PIN });
  assert.deepEqual(parseRootPin(`#invite=${TOKEN}&root=${PIN.toUpperCase()}`), { sha256: PIN });
  assert.equal(parseRootPin(''), null);
  assert.equal(parseRootPin(`#invite=${TOKEN}`), null);
  assert.deepEqual(parseRootPin(`#root=${PIN.slice(0, 40)}`), { malformed: true });
  assert.deepEqual(parseRootPin(`#root=${'z'.repeat(64)}`), { malformed: true });
  assert.deepEqual(parseRootPin('#root='), { malformed: true });
});

test('platform detection: iPhone, iPad (also as a "Mac" with touch), Android, Mac, Windows, Linux', () => {
  const ua = {
    iphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148',
    ipadDesktop: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/18.0 Safari/605.1.15',
    android: 'Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36',
    windows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36',
    linux: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36',
  };
  assert.equal(detectPlatform(ua.iphone), 'ios');
  assert.equal(detectPlatform(ua.ipadDesktop, 5), 'ios');
  assert.equal(detectPlatform(ua.ipadDesktop, 0), 'macos');
  assert.equal(detectPlatform(ua.android), 'android', 'Android says Linux too; Android wins');
  assert.equal(detectPlatform(ua.windows), 'windows');
  assert.equal(detectPlatform(ua.linux), 'linux');
  for (const { id } of PLATFORMS) assert.ok(importSteps(id).length >= 3, `${id} has steps`);
  assert.match(importSteps('ios').join(' '), /\+, then "Create from QR code"/);
  assert.match(importSteps('android').join(' '), /\+, then "Scan from QR code"/);
  assert.match(importSteps('macos').join(' '), /Import tunnel\(s\) from file/);
  assert.match(importSteps('windows').join(' '), /Import tunnel\(s\) from file/);
  assert.match(importSteps('linux').join(' '), /wg-quick up \{tunnel\}/);
});

test('AmneziaWG doors: the AmneziaWG apps\' steps on every platform, `awg-quick` on Linux', () => {
  for (const { id } of PLATFORMS) {
    const steps = importSteps(id, { file: 'damm-NL-awg.conf', tunnel: 'damm-NL-awg' }, 'amneziawg').join(' ');
    assert.match(steps, /AmneziaWG|amneziawg-tools/, `${id}: the AmneziaWG app`);
    assert.doesNotMatch(steps, /WireGuard app|wireguard\.com|\bwg-quick|\{/, `${id}: nothing of the WireGuard app's steps, every placeholder filled`);
  }
  assert.match(importSteps('linux', { file: 'f.conf', tunnel: 'f' }, 'amneziawg').join(' '), /\/etc\/amnezia\/amneziawg\/f\.conf`[\s\S]*`sudo awg-quick up f`/);
});

test('tunnel names: at most 15 of [a-zA-Z0-9_=+.-], a door\'s suffix kept whole so doors never share a name', () => {
  assert.equal(tunnelName('damm', 'NL'), 'damm-NL');
  assert.equal(tunnelName('damm', 'NL', '443'), 'damm-NL-443');
  assert.equal(tunnelName('damm', 'NL', 'awg'), 'damm-NL-awg');
  const long = ['', '443', '53', 'awg'].map((x) => tunnelName('damm', 'eu-west-1 (Frankfurt)', x));
  assert.deepEqual(long, ['damm-eu-west-1F', 'damm-eu-wes-443', 'damm-eu-west-53', 'damm-eu-wes-awg']);
  for (const n of long) assert.match(n, /^[a-zA-Z0-9_=+.-]{1,15}$/);
  assert.equal(new Set(long).size, long.length);
});

test('every refusal the API can send about enrollment becomes a titled problem with a way forward', () => {
  const ctx = { usingInvite: true, publicEnrollment: true };
  const codes = [...Object.keys(ERROR_CODES), 'http_502', 'bad_response'];
  for (const code of codes) {
    const status = (ERROR_CODES as Record<string, number>)[code] ?? 502;
    const p = describeProblem(new ApiError(status, code, 'server words', 30, 'req-1'), ctx);
    assert.ok(p.title && p.message, code);
    assert.ok(p.retry || p.inviteForm || p.offerPublic, `${code} is a dead end`);
    assert.doesNotMatch(`${p.title} ${p.message} ${p.next.join(' ')}`, /undefined|null|\[object/, code);
  }
  const net = describeProblem(new NetworkError('timeout'), ctx);
  assert.equal(net.code, 'network');
  assert.match(net.message, /did not answer in time/);
  assert.equal(describeProblem(new Error('boom at x.js:1'), ctx).message.includes('boom'), false, 'page errors never show internals');
});

test('rate limit: the retry waits until the time the service gave', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  const p = describeProblem(new ApiError(429, 'rate_limited', 'x', 1500, 'r'), { usingInvite: false, publicEnrollment: true, now });
  assert.equal(p.retry?.notBefore?.toISOString(), '2026-06-01T12:25:00.000Z');
  assert.match(p.message, /in 25 minutes/);
  assert.equal(p.inviteForm, true);
});

test('a used invite offers a public pass only when the service enrolls the public', () => {
  const err = new ApiError(403, 'pass_used', 'x', null, null);
  assert.equal(describeProblem(err, { usingInvite: true, publicEnrollment: true }).offerPublic, true);
  assert.equal(describeProblem(err, { usingInvite: true, publicEnrollment: false }).offerPublic, false);
});

test('the built wizard: JavaScript within 60 KB gzipped, nothing from other origins, no TypeBox', () => {
  const info = requireBuiltWizard();
  const js = readFileSync(path.join(WIZARD_DIST, 'assets', info.js));
  const css = readFileSync(path.join(WIZARD_DIST, 'assets', info.css), 'utf8');
  const html = readFileSync(path.join(WIZARD_DIST, 'index.html'), 'utf8');
  const gz = gzipSync(js, { level: 9 }).length;
  console.log(`wizard JavaScript: ${js.length} bytes, ${gz} bytes gzipped (${(gz / 1024).toFixed(1)} KB of the 60 KB budget)`);
  assert.equal(gz, info.jsGzipBytes);
  assert.ok(gz <= 60 * 1024, `wizard JavaScript is ${gz} bytes gzipped, over 60 KB`);
  // The one script and one stylesheet are the page's only subresources, both same-origin.
  assert.deepEqual([...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).sort(), ['#main', `assets/${info.css}`, `assets/${info.js}`, 'data:,'].sort());
  assert.doesNotMatch(css, /url\(|@import/);
  // The only absolute URL in the script is the SVG namespace (a name, never fetched).
  assert.deepEqual([...new Set(js.toString('utf8').match(/https?:\/\/[^\s"'`)]+/g) ?? [])], ['http://www.w3.org/2000/svg']);
  assert.doesNotMatch(js.toString('utf8'), /TypeBox|FormatRegistry|sinclair/);
});
