/** The join code: round trip, and every malformed code refused with a sentence and no partial result. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJoinCode, encodeJoinCode } from '../../src/core/join-code.js';
import { fromBase64Url, toBase64Url, utf8 } from '../../src/core/bytes.js';

const good = { controlPlane: 'https://damm.example.org', token: `dg_${'A'.repeat(32)}`, rootSha256: 'ab'.repeat(32) };

test('a join code round-trips and is one line of URL-safe text', () => {
  const code = encodeJoinCode(good);
  assert.match(code, /^dj1\.[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeJoinCode(`  ${code}\n`), good);
});

test('malformed codes are refused, each with a sentence', () => {
  const wrap = (o: unknown) => `dj1.${toBase64Url(utf8.encode(JSON.stringify(o)))}`;
  const cases: Array<[string, RegExp]> = [
    ['', /does not start with dj1\./],
    ['dj2.abc', /does not start with dj1\./],
    ['dj1.a+b', /unexpected characters/],
    ['dj1.A', /does not decode/],
    [wrap([1]), /not an object/],
    [wrap({ u: good.controlPlane, t: good.token }), /unexpected fields/],
    [wrap({ u: good.controlPlane, t: good.token, p: good.rootSha256, x: 1 }), /unexpected fields/],
    [wrap({ u: good.controlPlane, t: good.token, p: 1 }), /not text/],
    [wrap({ u: 'ftp://x', t: good.token, p: good.rootSha256 }), /plain http\(s\)/],
    [wrap({ u: 'https://a:b@x', t: good.token, p: good.rootSha256 }), /plain http\(s\)/],
    [wrap({ u: good.controlPlane, t: 'dgc_x', p: good.rootSha256 }), /token is malformed/],
    [wrap({ u: good.controlPlane, t: good.token, p: 'AB'.repeat(32) }), /64 hex digits/],
  ];
  for (const [text, why] of cases) {
    assert.throws(() => decodeJoinCode(text), (err: any) => err.code === 'invalid_argument' && why.test(err.message) && /not a DAMM join code/.test(err.message), text);
  }
  assert.throws(() => encodeJoinCode({ ...good, rootSha256: 'x' }), /64 hex digits/);
});

test('base64url is strict: no padding, no standard-alphabet characters, canonical only', () => {
  for (const n of [0, 1, 2, 3, 4, 31, 32, 33]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 97 + 13) & 0xff);
    assert.deepEqual(fromBase64Url(toBase64Url(bytes)), bytes);
  }
  assert.equal(toBase64Url(Uint8Array.of(0xfb, 0xff)), '-_8');
  for (const bad of ['-_8=', '+/8', 'A', 'AB@C', '-_9']) assert.equal(fromBase64Url(bad), null, bad);
});
