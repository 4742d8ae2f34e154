/** core/lane-doors.ts: what a gateway may register beyond the schema's shape; each rule refuses with a sentence naming the problem. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLaneDoors, type LaneDoor } from '../../src/core/lane-doors.js';
import { DammError } from '../../src/core/errors.js';
import { wgKeyPair } from '../helpers/keys.js';

const params = { jc: 4, jmin: 40, jmax: 70, s1: 15, s2: 23, s3: 9, s4: 4, h1: '1020304', h2: '2000000', h3: '3000000', h4: '4000000', i1: null };
const lane0 = (): LaneDoor => ({ lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: wgKeyPair().publicKey, params: null, endpoints: [{ host: '192.0.2.1', port: 51820 }, { host: '192.0.2.1', port: 443 }] });
const lane1 = (): LaneDoor => ({ lane: 1, protocol: 'amneziawg', tier: 'T1', publicKey: wgKeyPair().publicKey, params, endpoints: [{ host: '192.0.2.1', port: 51821 }] });

test('two lanes are accepted and come back sorted by lane', () => {
  const a = lane0();
  const b = lane1();
  assert.deepEqual(checkLaneDoors([b, a]), [a, b]);
  // The same port on two hosts (IPv4 and IPv6 of one gateway) is two doors.
  checkLaneDoors([{ ...a, endpoints: [{ host: '192.0.2.1', port: 51820 }, { host: '2001:db8::1', port: 51820 }] }]);
});

test('each rule refuses, naming the problem', () => {
  const a = lane0();
  const b = lane1();
  const cases: [string, LaneDoor[], RegExp][] = [
    ['no lanes', [], /1 to 4 lanes/],
    ['five lanes', [a, b, { ...b, lane: 2, publicKey: wgKeyPair().publicKey }, { ...b, lane: 3, publicKey: wgKeyPair().publicKey }, { ...b, lane: 3 }], /1 to 4 lanes/],
    ['no lane 0', [b], /Lane 0 .* is required/],
    ['lane 0 AmneziaWG', [{ ...b, lane: 0 }], /Lane 0 must be plain WireGuard/],
    ['a lane twice', [a, b, { ...b, publicKey: wgKeyPair().publicKey, endpoints: [{ host: '192.0.2.1', port: 1 }] }], /Lane 1 is registered twice/],
    ['lane out of range', [a, { ...b, lane: 4 }], /outside 0\.\.3/],
    ['one key on two lanes', [a, { ...b, publicKey: a.publicKey }], /public key of another lane/],
    ['WireGuard with params', [{ ...a, params }], /must carry no parameters/],
    ['AmneziaWG without params', [a, { ...b, params: null }], /needs its parameters/],
    ['AmneziaWG params out of range (S1 + 56 = S2)', [a, { ...b, params: { ...params, s2: params.s1 + 56 } }], /Lane 1's AmneziaWG parameters are not valid/],
    ['AmneziaWG headers overlapping', [a, { ...b, params: { ...params, h2: params.h1 } }], /Lane 1's AmneziaWG parameters are not valid/],
    ['a port twice across lanes', [a, { ...b, endpoints: [{ host: '192.0.2.1', port: 443 }] }], /Port 443 on 192\.0\.2\.1 is named twice \(lanes 0 and 1\)/],
    ['a port twice in one lane', [{ ...a, endpoints: [{ host: '192.0.2.1', port: 443 }, { host: '192.0.2.1', port: 443 }] }], /Port 443 .* named twice/],
    ['no endpoints', [{ ...a, endpoints: [] }], /1 to 8 endpoints/],
  ];
  for (const [name, doors, words] of cases) {
    const copy = structuredClone(doors);
    assert.throws(() => checkLaneDoors(doors), (e: unknown) => e instanceof DammError && e.code === 'invalid_argument' && words.test(e.message), name);
    assert.deepEqual(doors, copy, `${name}: the input is not changed`);
  }
});
