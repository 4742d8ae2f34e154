import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import QRCode from 'qrcode';
import {
  AWG_I1_MAX_LENGTH,
  awgConfLines,
  awgParamsEqual,
  awgTunnelMtu,
  awgUapiLines,
  generateAwgParams,
  renderAwgClientConfig,
  validateAwgParams,
  type AwgParams,
} from '../../src/core/amneziawg.js';
import { DammError } from '../../src/core/errors.js';
import { wgKeyPair } from '../helpers/keys.js';

const rng = (n: number): Uint8Array => randomBytes(n);

function headerRange(spec: string): [number, number] {
  const [lo, hi] = spec.split('-').map(Number);
  return [lo!, hi ?? lo!];
}

/** A valid set to break one rule at a time. */
const BASE: AwgParams = {
  jc: 4, jmin: 40, jmax: 90, s1: 21, s2: 30, s3: 41, s4: 8,
  h1: '100-200', h2: '300', h3: '4000000000-4000001000', h4: '70000-80000', i1: '<b 0x0a0b0c0d><r 16>',
};

function refused(p: unknown, field: string, why: RegExp): void {
  assert.throws(
    () => validateAwgParams(p),
    (e: unknown) => e instanceof DammError && e.code === 'invalid_argument' && e.details?.['field'] === field && why.test(e.message),
    `${JSON.stringify(p)} should be refused on ${field} (${why})`,
  );
}

test('1,000 generated sets all validate, and keep the protocol rules', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const p = generateAwgParams(rng);
    assert.deepEqual(validateAwgParams(p), p);
    // Rules restated independently of the validator:
    assert.ok(p.jc >= 1 && p.jmin >= 1 && p.jmin <= p.jmax && p.jmax <= 1232);
    const sizes = [p.s1 + 148, p.s2 + 92, p.s3 + 64];
    assert.equal(new Set(sizes).size, 3, `handshake sizes differ: ${sizes}`);
    assert.notEqual(p.s1 + 56, p.s2);
    for (const s of sizes) assert.ok(s < p.s4 + 32 || (s - p.s4 - 32) % 16 !== 0, 'no handshake size is a transport size');
    const ranges = [p.h1, p.h2, p.h3, p.h4].map(headerRange);
    for (const [lo, hi] of ranges) assert.ok(lo >= 5 && lo < hi && hi <= 0xffffffff);
    for (let a = 0; a < 4; a++) for (let b = a + 1; b < 4; b++) assert.ok(ranges[a]![1] < ranges[b]![0] || ranges[b]![1] < ranges[a]![0], 'disjoint');
    assert.ok(p.i1 !== null && p.i1.length <= AWG_I1_MAX_LENGTH);
    seen.add(JSON.stringify(p));
  }
  assert.equal(seen.size, 1000, 'every door gets its own set');
});

test('each rule violated is refused, naming the field', () => {
  assert.deepEqual(validateAwgParams(BASE), BASE);
  refused({ ...BASE, jc: 0 }, 'jc', /from 1 to 128/);
  refused({ ...BASE, jc: 129 }, 'jc', /from 1 to 128/);
  refused({ ...BASE, jc: 2.5 }, 'jc', /integer/);
  refused({ ...BASE, jc: '4' }, 'jc', /integer/);
  refused({ ...BASE, jmin: 0 }, 'jmin', /from 1/);
  refused({ ...BASE, jmin: 91 }, 'jmin', /must not exceed Jmax/);
  refused({ ...BASE, jmax: 1233 }, 'jmax', /to 1232/);
  refused({ ...BASE, s1: -1 }, 's1', /from 0/);
  refused({ ...BASE, s4: 33 }, 's4', /to 32/);
  refused({ ...BASE, s2: BASE.s1 + 56 }, 's2', /as long as the padded initiation.*S1 \+ 56 != S2/);
  refused({ ...BASE, s3: BASE.s1 + 84 }, 's3', /cookie reply.*as long as the padded initiation/);
  refused({ ...BASE, s3: BASE.s2 + 28 }, 's3', /as long as the padded response/);
  // 20 + 148 = 168 = 8 + 32 + 16 * 8: an initiation that could be a transport message.
  refused({ ...BASE, s4: 8, s1: 20 + 16 - 16 }, 's1', /transport message/);
  refused({ ...BASE, s1: 36 }, 's1', /transport message/);
  refused({ ...BASE, h1: '1' }, 'h1', /1-4 are plain WireGuard/);
  refused({ ...BASE, h2: '3-10' }, 'h2', /1-4 are plain WireGuard/);
  refused({ ...BASE, h2: '150-160' }, 'h2', /overlaps H1/);
  refused({ ...BASE, h4: '300' }, 'h4', /overlaps H2/);
  refused({ ...BASE, h3: '200-100' }, 'h3', /LO < HI/);
  refused({ ...BASE, h3: '100-100' }, 'h3', /LO < HI/);
  refused({ ...BASE, h3: '0100' }, 'h3', /leading zeros/);
  refused({ ...BASE, h3: '4294967296' }, 'h3', /4294967295/);
  refused({ ...BASE, h3: 12345 }, 'h3', /"N" or "LO-HI"/);
  refused({ ...BASE, h1: '10 - 20' }, 'h1', /"N" or "LO-HI"/);
  refused({ ...BASE, i1: '' }, 'i1', /empty/);
  refused({ ...BASE, i1: '<b 0x0a0b' }, 'i1', /sequence of/);
  refused({ ...BASE, i1: '<b 0xABCD>' }, 'i1', /lowercase hex/);
  refused({ ...BASE, i1: '<b 0xabc>' }, 'i1', /sequence of/);
  refused({ ...BASE, i1: '<d>' }, 'i1', /sequence of/);
  refused({ ...BASE, i1: '<r 16> # comment' }, 'i1', /sequence of/);
  refused({ ...BASE, i1: '<r 0>' }, 'i1', /sequence of/);
  refused({ ...BASE, i1: '<r 300>' }, 'i1', /emits 300 bytes/);
  refused({ ...BASE, i1: `<b 0x${'ab'.repeat(60)}>` }, 'i1', /characters, at most 120/);
  refused({ ...BASE, i1: '<r 16>\ni2=<r 5>' }, 'i1', /sequence of/);
  refused({ ...BASE, extra: 1 }, 'params', /unknown field "extra"/);
  refused(null, 'params', /object/);
  const { h4: _h4, ...missing } = BASE;
  refused(missing, 'h4', /"N" or "LO-HI"/);
});

test('UAPI lines use amneziawg-go keys; .conf lines use the apps\' keys', () => {
  assert.deepEqual(awgUapiLines(BASE), [
    'jc=4', 'jmin=40', 'jmax=90', 's1=21', 's2=30', 's3=41', 's4=8',
    'h1=100-200', 'h2=300', 'h3=4000000000-4000001000', 'h4=70000-80000', 'i1=<b 0x0a0b0c0d><r 16>',
  ]);
  assert.equal(awgUapiLines({ ...BASE, i1: null }).at(-1), 'i1=', 'an empty i1 clears one held before');
  assert.deepEqual(awgConfLines(BASE), [
    'Jc = 4', 'Jmin = 40', 'Jmax = 90', 'S1 = 21', 'S2 = 30', 'S3 = 41', 'S4 = 8',
    'H1 = 100-200', 'H2 = 300', 'H3 = 4000000000-4000001000', 'H4 = 70000-80000', 'I1 = <b 0x0a0b0c0d><r 16>',
  ]);
  assert.equal(awgConfLines({ ...BASE, i1: null }).length, 11);
  assert.throws(() => awgUapiLines({ ...BASE, jc: 0 }), /JC/);
  assert.ok(awgParamsEqual(BASE, { ...BASE }));
  assert.ok(!awgParamsEqual(BASE, { ...BASE, h2: '301' }));
  assert.equal(awgTunnelMtu(BASE), 1412);
});

test('a generated full client config fits one QR code at the wizard\'s level (M)', () => {
  const input = {
    privateKey: wgKeyPair().privateKey,
    addresses: { ipv4: '10.67.255.254', ipv6: 'fd0d:a44d:67:ffff:ffff:ffff:ffff:fffe' },
    dns: ['10.67.0.1', 'fd0d:a44d:67::1'],
    peerPublicKey: wgKeyPair().publicKey,
    endpoint: 'gateway-nl-1.example-damm-provider.net:51821',
  };
  let worst = 0;
  for (let i = 0; i < 200; i++) {
    const conf = renderAwgClientConfig(input, generateAwgParams(rng));
    worst = Math.max(worst, QRCode.create(conf, { errorCorrectionLevel: 'M' }).version);
  }
  // The longest set the validator allows: widest numbers, I1 at its length limit.
  const longest: AwgParams = {
    jc: 128, jmin: 1000, jmax: 1232, s1: 1001, s2: 1002, s3: 1003, s4: 32,
    h1: '1000000000-1999999999', h2: '2000000000-2999999999', h3: '3000000000-3999999999', h4: '4000000000-4294967295',
    // 12 characters of framing + 54 bytes of hex: exactly AWG_I1_MAX_LENGTH.
    i1: `<b 0x${'ab'.repeat(54)}><r 99>`,
  };
  assert.equal(longest.i1!.length, AWG_I1_MAX_LENGTH);
  validateAwgParams(longest);
  const longestConf = renderAwgClientConfig(input, longest);
  const longestVersion = QRCode.create(longestConf, { errorCorrectionLevel: 'M' }).version;
  console.log(`# QR version at level M: generated configs <= ${worst}; longest valid config (${longestConf.length} chars) ${longestVersion}`);
  // Version 40 is the largest QR code there is; phones read up to ~25 well.
  assert.ok(worst <= 20, `generated configs need QR version ${worst}`);
  assert.ok(longestVersion <= 25, `the longest valid config needs QR version ${longestVersion}`);
});

test('the client config carries the parameters in [Interface], before [Peer]', () => {
  const conf = renderAwgClientConfig(
    { privateKey: wgKeyPair().privateKey, addresses: { ipv4: '10.67.0.2', ipv6: 'fd0d::2' }, dns: [], peerPublicKey: wgKeyPair().publicKey, endpoint: '192.0.2.1:4443' },
    BASE,
  );
  const [iface, peer] = conf.split('[Peer]');
  assert.match(iface!, /\nMTU = 1412\nJc = 4\n.*\nI1 = <b 0x0a0b0c0d><r 16>\n\n$/s);
  assert.doesNotMatch(peer!, /Jc|H1|I1/);
});
