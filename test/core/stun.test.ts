/** core/stun: what the gateway's probe responder answers, and what it ignores. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isStunBindingRequest, parseStunMappedAddress, stunBindingResponse, STUN_MAX_REQUEST } from '../../src/core/stun.js';

function request(extra = 0): Uint8Array {
  const m = new Uint8Array(20 + extra);
  const v = new DataView(m.buffer);
  v.setUint16(0, 0x0001);
  v.setUint16(2, extra);
  v.setUint32(4, 0x2112a442);
  for (let i = 8; i < 20; i++) m[i] = i * 7;
  return m;
}

test('a Binding request is recognised; WireGuard messages, wrong cookies, lengths and oversize are not', () => {
  assert.equal(isStunBindingRequest(request()), true);
  assert.equal(isStunBindingRequest(request(8)), true);
  const wgInit = new Uint8Array(148);
  wgInit[0] = 1;
  assert.equal(isStunBindingRequest(wgInit), false);
  const badCookie = request();
  badCookie[4] = 0;
  assert.equal(isStunBindingRequest(badCookie), false);
  const badLength = request(8).subarray(0, 24);
  assert.equal(isStunBindingRequest(badLength), false);
  const notMultiple = request(3);
  assert.equal(isStunBindingRequest(notMultiple), false);
  assert.equal(isStunBindingRequest(request(STUN_MAX_REQUEST)), false);
  const response = stunBindingResponse(request(), { address: '192.0.2.1', port: 1 });
  assert.equal(isStunBindingRequest(response), false, 'our own answers are not requests');
});

test('the answer echoes the transaction id and tells the sender its own address, IPv4 (also IPv4-mapped) and IPv6', () => {
  const req = request();
  for (const [from, seen] of [['198.51.100.7', '198.51.100.7'], ['::ffff:198.51.100.7', '198.51.100.7'], ['2001:db8::42', '2001:db8::42']]) {
    const res = stunBindingResponse(req, { address: from!, port: 40000 });
    assert.deepEqual([...res.subarray(4, 20)], [...req.subarray(4, 20)]);
    assert.deepEqual(parseStunMappedAddress(res), { address: seen, port: 40000 });
    assert.equal(res.length, seen!.includes(':') ? 44 : 32, 'XOR-MAPPED-ADDRESS only: nothing about the gateway');
  }
  assert.throws(() => stunBindingResponse(req, { address: 'example.org', port: 1 }), /not an IP address/);
});
