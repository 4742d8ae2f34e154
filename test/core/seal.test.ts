import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, openWithInfo, seal, sealInfo, sealingKeyPair, sealWithEphemeral } from '../../src/core/seal.js';
import { utf8 } from '../../src/core/bytes.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const ctx = { gatewayId: 'gw-7f3a', doorId: 'ss-443' };

/**
 * RFC 9180 appendix A.2.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
 * ChaCha20Poly1305, base mode, first encryption), from the RFC's text: an
 * implementation independent of ours computed these bytes.
 */
const A21 = {
  info: '4f6465206f6e2061204772656369616e2055726e',
  skEm: 'f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600',
  pkEm: '1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a',
  pkRm: '4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a',
  skRm: '8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb',
  pt: '4265617574792069732074727574682c20747275746820626561757479',
  aad: '436f756e742d30',
  ct: '1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28',
};

test('HPKE SealBase reproduces RFC 9180 A.2.1 byte for byte, and OpenBase opens it', () => {
  const sealed = sealWithEphemeral(hex(A21.skEm), hex(A21.pkRm), hex(A21.info), hex(A21.aad), hex(A21.pt));
  assert.equal(Buffer.from(sealed).toString('hex'), A21.pkEm + A21.ct);
  assert.deepEqual(openWithInfo(hex(A21.skRm), sealed, hex(A21.info), hex(A21.aad)), hex(A21.pt));
});

test('seal/open round trip; every seal is fresh', () => {
  const gw = sealingKeyPair();
  const secret = utf8.encode('f2d2a1c4-0d3e-4a51-9b8e-1c3d5e7f9a0b');
  const a = seal(gw.publicKey, secret, ctx);
  const b = seal(gw.publicKey, secret, ctx);
  assert.equal(a.length, 32 + secret.length + 16);
  assert.notDeepEqual(a, b, 'a fresh ephemeral key each time');
  assert.deepEqual(open(gw.privateKey, a, ctx), secret);
  assert.deepEqual(open(gw.privateKey, b, ctx), secret);
});

const refused = (fn: () => unknown, code: string) => assert.throws(fn, (e: any) => e.name === 'DammError' && e.code === code);

test('the wrong private key is refused with record_invalid', () => {
  const gw = sealingKeyPair();
  const sealed = seal(gw.publicKey, utf8.encode('k'), ctx);
  refused(() => open(sealingKeyPair().privateKey, sealed, ctx), 'record_invalid');
});

test('another gateway or another door (context) is refused', () => {
  const gw = sealingKeyPair();
  const sealed = seal(gw.publicKey, utf8.encode('k'), ctx);
  refused(() => open(gw.privateKey, sealed, { ...ctx, doorId: 'vless-443' }), 'record_invalid');
  refused(() => open(gw.privateKey, sealed, { ...ctx, gatewayId: 'gw-other' }), 'record_invalid');
  // Length prefixes keep ("ab","c") and ("a","bc") apart.
  const s2 = seal(gw.publicKey, utf8.encode('k'), { gatewayId: 'ab', doorId: 'c' });
  refused(() => open(gw.privateKey, s2, { gatewayId: 'a', doorId: 'bc' }), 'record_invalid');
  assert.notDeepEqual(sealInfo({ gatewayId: 'ab', doorId: 'c' }), sealInfo({ gatewayId: 'a', doorId: 'bc' }));
});

test('any single flipped byte (enc, ciphertext or tag) is refused; truncation too', () => {
  const gw = sealingKeyPair();
  const sealed = seal(gw.publicKey, utf8.encode('0123456789abcdef0123456789abcdef'), ctx);
  for (let i = 0; i < sealed.length; i++) {
    const bad = sealed.slice();
    bad[i]! ^= 0x01;
    refused(() => open(gw.privateKey, bad, ctx), 'record_invalid');
  }
  refused(() => open(gw.privateKey, sealed.subarray(0, 47), ctx), 'record_invalid');
  refused(() => open(gw.privateKey, sealed.subarray(0, sealed.length - 1), ctx), 'record_invalid');
});

test('bad inputs: low-order recipient key, wrong key sizes, empty or huge plaintext, empty ids', () => {
  const gw = sealingKeyPair();
  refused(() => seal(new Uint8Array(32), utf8.encode('k'), ctx), 'invalid_public_key');
  refused(() => seal(gw.publicKey.subarray(0, 31), utf8.encode('k'), ctx), 'invalid_argument');
  refused(() => seal(gw.publicKey, new Uint8Array(0), ctx), 'invalid_argument');
  refused(() => seal(gw.publicKey, new Uint8Array(1025), ctx), 'invalid_argument');
  refused(() => seal(gw.publicKey, utf8.encode('k'), { gatewayId: '', doorId: 'd' }), 'invalid_argument');
  refused(() => open(gw.privateKey.subarray(1), new Uint8Array(64), ctx), 'invalid_argument');
});
