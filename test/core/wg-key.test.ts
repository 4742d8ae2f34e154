import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWireGuardPublicKey } from '../../src/core/wg-key.js';
import { fromBase64, toBase64 } from '../../src/core/bytes.js';
import { wgKeyPair } from '../helpers/keys.js';

test('real X25519 public keys are accepted', () => {
  for (let i = 0; i < 50; i++) assert.equal(parseWireGuardPublicKey(wgKeyPair().publicKey).length, 32);
});

test('malformed keys are refused with invalid_public_key', () => {
  const good = wgKeyPair().publicKey;
  const bad = [
    '', 'abc', good.slice(0, 43), `${good}=`, good.replace(/=$/, 'A'), `${good.slice(0, 42)}B=`, // non-canonical final char
    Buffer.alloc(31).toString('base64'), Buffer.alloc(33).toString('base64'), Buffer.alloc(32).toString('base64'), // zero key
    good.replace(/^./, '*'), good.replace(/\+|\//g, '-'),
  ];
  for (const b of bad) {
    if (b === good) continue;
    assert.throws(() => parseWireGuardPublicKey(b), (e: any) => e.code === 'invalid_public_key', JSON.stringify(b));
  }
});

test('base64 round-trips and refuses junk', () => {
  for (let n = 0; n < 70; n++) {
    const bytes = new Uint8Array(n).map((_, i) => (i * 37 + n) & 255);
    assert.equal(toBase64(bytes), Buffer.from(bytes).toString('base64'));
    assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
  }
  assert.equal(fromBase64('abc'), null);
  assert.equal(fromBase64('ab=c'), null);
  assert.equal(fromBase64('QQ=='.replace('Q=', 'R=')), null); // stray low bits
});
