import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProxyCredential, encodeProxyCredential, isProxyCredential, newProxyCredential } from '../../src/core/proxy-credential.js';

const seq = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);

test('Shadowsocks secret: 32 random bytes as unpadded base64url', () => {
  const r = Uint8Array.from({ length: 32 }, (_, i) => 255 - i * 3);
  assert.equal(newProxyCredential('shadowsocks', r), Buffer.from(r).toString('base64url'));
  assert.equal(newProxyCredential('shadowsocks', r).length, 43);
});

test('VLESS id: 16 random bytes as an RFC 4122 version-4 UUID', () => {
  assert.equal(newProxyCredential('vless', seq(16)), '00010203-0405-4607-8809-0a0b0c0d0e0f');
  const u = newProxyCredential('vless', Uint8Array.from({ length: 16 }, () => 0xff));
  assert.equal(u, 'ffffffff-ffff-4fff-bfff-ffffffffffff');
  assert.ok(isProxyCredential('vless', crypto.randomUUID()), "Node's own v4 UUIDs are the same spelling");
});

test('encode/decode round trip; wrong sizes, spellings and protocols are refused', () => {
  const ss = newProxyCredential('shadowsocks', seq(32));
  const vl = newProxyCredential('vless', seq(16));
  assert.equal(decodeProxyCredential('shadowsocks', encodeProxyCredential('shadowsocks', ss)), ss);
  assert.equal(decodeProxyCredential('vless', encodeProxyCredential('vless', vl)), vl);
  assert.throws(() => newProxyCredential('shadowsocks', seq(31)), (e: any) => e.code === 'invalid_argument');
  assert.throws(() => newProxyCredential('vless', seq(32)), (e: any) => e.code === 'invalid_argument');
  assert.throws(() => encodeProxyCredential('vless', ss), (e: any) => e.code === 'invalid_argument');
  assert.throws(() => decodeProxyCredential('shadowsocks', encodeProxyCredential('vless', vl)), (e: any) => e.code === 'record_invalid');
  assert.throws(() => decodeProxyCredential('vless', vl.toUpperCase() as any as Uint8Array), (e: any) => e.code === 'record_invalid');
  assert.throws(() => decodeProxyCredential('vless', Uint8Array.from([0xff, 0xfe])), (e: any) => e.code === 'record_invalid');
});
