/** Admission records: every refusal reason has a named adversarial test. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  admissionRecordFor,
  revocationRecordFor,
  signRecord,
  trustedKeysFrom,
  verifyAdmission,
  verifyRevocation,
  type AdmissionRecord,
  type GatewayTrust,
} from '../../src/core/admission.js';
import { generateSigningKey, PAYLOAD_TYPES, signEnvelope, verifyEnvelope, type SigningKey } from '../../src/core/envelope.js';
import { parsePools } from '../../src/core/ipam.js';
import { toBase64, utf8 } from '../../src/core/bytes.js';
import { ManualClock } from '../../src/core/clock.js';
import { wgKeyPair } from '../helpers/keys.js';

const admissionKey = generateSigningKey();
const catalogKey = generateSigningKey();
const pools = parsePools({ ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd0d:a44d:66::/64' });
const trust: GatewayTrust = { scope: 'region:NL', pools, trustedKeys: [admissionKey] };
const clock = new ManualClock('2026-03-01T12:00:00Z');
const deviceId = '6f1c1f7e-9a59-4b1e-8d53-3b8f1c2d4e5f';
const device = { id: deviceId, publicKey: wgKeyPair().publicKey, ipv4: '10.66.0.7', ipv6: 'fd0d:a44d:66::7', scope: 'region:NL' };

function signed(record: object, keys: SigningKey[] = [admissionKey], type: string = PAYLOAD_TYPES.admission) {
  return signEnvelope(type as typeof PAYLOAD_TYPES.admission, utf8.encode(JSON.stringify(record)), keys);
}
function reasonOf(v: ReturnType<typeof verifyAdmission> | ReturnType<typeof verifyRevocation>): string {
  return v.ok ? 'ok' : v.reason;
}

test('a record signed by a trusted admission key, for this scope, in its window, verifies', () => {
  const env = signRecord(admissionRecordFor(device, clock.now()), [admissionKey]);
  const v = verifyAdmission(env, trust, clock.now());
  assert.ok(v.ok);
  assert.deepEqual(v.record.allowedIps, ['10.66.0.7/32', 'fd0d:a44d:66::7/128']);
  assert.equal(v.record.publicKey, device.publicKey);
  // Same bytes verify with the generic DSSE verifier: one format, two verifiers.
  assert.doesNotThrow(() => verifyEnvelope(env, PAYLOAD_TYPES.admission, [admissionKey]));
});

test('refuses a record signed by another key (bad_signature)', () => {
  const env = signRecord(admissionRecordFor(device, clock.now()), [generateSigningKey()]);
  assert.equal(reasonOf(verifyAdmission(env, trust, clock.now())), 'bad_signature');
});

test('refuses a catalog key signing an admission (bad_signature): roles do not mix', () => {
  const env = signRecord(admissionRecordFor(device, clock.now()), [catalogKey]);
  assert.equal(reasonOf(verifyAdmission(env, trust, clock.now())), 'bad_signature');
});

test('refuses a tampered payload (bad_signature)', () => {
  const env = signRecord(admissionRecordFor(device, clock.now()), [admissionKey]);
  const forged = { ...admissionRecordFor(device, clock.now()), allowedIps: ['10.66.0.8/32', 'fd0d:a44d:66::8/128'] };
  const tampered = { ...env, payload: toBase64(utf8.encode(JSON.stringify(forged))) };
  assert.equal(reasonOf(verifyAdmission(tampered, trust, clock.now())), 'bad_signature');
});

test('refuses a duplicated signature counting twice toward a threshold', () => {
  const env = signRecord(admissionRecordFor(device, clock.now()), [admissionKey]);
  const doubled = { ...env, signatures: [env.signatures[0]!, env.signatures[0]!] };
  assert.equal(reasonOf(verifyAdmission(doubled, { ...trust, threshold: 2 }, clock.now())), 'bad_signature');
});

test('refuses another payload type (wrong_payload_type), even when validly signed', () => {
  const record = admissionRecordFor(device, clock.now());
  assert.equal(reasonOf(verifyAdmission(signed(record, [admissionKey], PAYLOAD_TYPES.catalog), trust, clock.now())), 'wrong_payload_type');
  assert.equal(reasonOf(verifyAdmission(signed(record, [admissionKey], PAYLOAD_TYPES.revocation), trust, clock.now())), 'wrong_payload_type');
  // and a revocation cannot be passed off as an admission or the reverse
  const rev = signRecord(revocationRecordFor(device, clock.now()), [admissionKey]);
  assert.equal(reasonOf(verifyAdmission(rev, trust, clock.now())), 'wrong_payload_type');
  assert.equal(reasonOf(verifyRevocation(signRecord(record, [admissionKey]), trust)), 'wrong_payload_type');
});

test('refuses a record for another scope (wrong_scope)', () => {
  const env = signRecord(admissionRecordFor({ ...device, scope: 'region:DE' }, clock.now()), [admissionKey]);
  assert.equal(reasonOf(verifyAdmission(env, trust, clock.now())), 'wrong_scope');
  const rev = signRecord(revocationRecordFor({ ...device, scope: 'region:DE' }, clock.now()), [admissionKey]);
  assert.equal(reasonOf(verifyRevocation(rev, trust)), 'wrong_scope');
});

test('refuses outside the validity window (expired / not_yet_valid), by the injected clock', () => {
  const env = signRecord(admissionRecordFor(device, clock.now(), 3600), [admissionKey]);
  const later = new ManualClock(clock.now());
  later.advance(3599);
  assert.ok(verifyAdmission(env, trust, later.now()).ok);
  later.advance(1);
  assert.equal(reasonOf(verifyAdmission(env, trust, later.now())), 'expired');
  const earlier = new ManualClock(clock.now());
  earlier.advance(-299); // within the 5-minute skew allowance on starts
  assert.ok(verifyAdmission(env, trust, earlier.now()).ok);
  earlier.advance(-2);
  assert.equal(reasonOf(verifyAdmission(env, trust, earlier.now())), 'not_yet_valid');
});

test('refuses a validity window longer than policy (window_too_long)', () => {
  const env = signRecord(admissionRecordFor(device, clock.now(), 30 * 86400), [admissionKey]);
  assert.equal(reasonOf(verifyAdmission(env, trust, clock.now())), 'window_too_long');
});

test('refuses addresses outside the device pool (address_outside_pool)', () => {
  const base = admissionRecordFor(device, clock.now());
  const cases: string[][] = [
    ['0.0.0.0/0', 'fd0d:a44d:66::7/128'], // everything
    ['10.66.0.0/16', 'fd0d:a44d:66::7/128'], // the whole pool
    ['10.66.0.1/32', 'fd0d:a44d:66::1/128'], // the gateway's own address
    ['10.66.0.0/32', 'fd0d:a44d:66::7/128'], // the network address
    ['10.66.255.255/32', 'fd0d:a44d:66::7/128'], // broadcast
    ['10.67.0.7/32', 'fd0d:a44d:66::7/128'], // outside the IPv4 pool
    ['10.66.0.7/32', 'fd0d:a44d:67::7/128'], // outside the IPv6 prefix
    ['10.66.0.7/32', '10.66.0.8/32'], // two IPv4, no IPv6
    ['10.66.0.7/32'], // one only
    ['10.66.0.7/32', 'fd0d:a44d:66::7/128', '10.66.0.9/32'], // one too many
    ['010.66.0.7/32', 'fd0d:a44d:66::7/128'], // non-canonical spelling
  ];
  for (const allowedIps of cases) {
    const env = signed({ ...base, allowedIps } satisfies AdmissionRecord);
    assert.equal(reasonOf(verifyAdmission(env, trust, clock.now())), 'address_outside_pool', JSON.stringify(allowedIps));
  }
});

test('refuses an address already held by another key (address_taken), accepts the same key renewing', () => {
  const env = signRecord(admissionRecordFor(device, clock.now()), [admissionKey]);
  const other = wgKeyPair().publicKey;
  assert.equal(reasonOf(verifyAdmission(env, trust, clock.now(), { addressHolder: (p) => (p === 'fd0d:a44d:66::7/128' ? other : undefined) })), 'address_taken');
  assert.ok(verifyAdmission(env, trust, clock.now(), { addressHolder: () => device.publicKey }).ok);
});

test('refuses malformed records: unknown or missing fields, bad key, bad id, bad times (malformed)', () => {
  const base = admissionRecordFor(device, clock.now());
  const { notAfter: _drop, ...missing } = base;
  const cases: object[] = [
    { ...base, extra: true },
    missing,
    { ...base, publicKey: 'not-a-key' },
    { ...base, deviceId: 'DROP TABLE devices' },
    { ...base, notBefore: base.notAfter, notAfter: base.notBefore },
    { ...base, notAfter: '2026-02-30T00:00:00Z' },
    { ...base, kind: 'revocation' },
  ];
  for (const c of cases) assert.equal(reasonOf(verifyAdmission(signed(c), trust, clock.now())), 'malformed', JSON.stringify(c));
  assert.equal(reasonOf(verifyAdmission(null, trust, clock.now())), 'malformed');
  assert.equal(reasonOf(verifyAdmission({ payloadType: PAYLOAD_TYPES.admission, payload: '!!', signatures: [] }, trust, clock.now())), 'malformed');
  const notJson = signEnvelope(PAYLOAD_TYPES.admission, utf8.encode('{"kind":"admission"} trailing'), [admissionKey]);
  assert.equal(reasonOf(verifyAdmission(notJson, trust, clock.now())), 'malformed');
});

test('revocations verify by signature and scope; forged ones are refused', () => {
  const rev = revocationRecordFor(device, clock.now());
  assert.ok(verifyRevocation(signRecord(rev, [admissionKey]), trust).ok);
  assert.equal(reasonOf(verifyRevocation(signRecord(rev, [generateSigningKey()]), trust)), 'bad_signature');
  assert.equal(reasonOf(verifyRevocation(signed({ ...rev, reason: 'x' }, [admissionKey], PAYLOAD_TYPES.revocation), trust)), 'malformed');
});

test('trustedKeysFrom keeps only keys whose id matches their bytes', () => {
  const good = { keyid: admissionKey.keyid, publicKey: toBase64(admissionKey.publicKey) };
  const lying = { keyid: admissionKey.keyid, publicKey: toBase64(catalogKey.publicKey) };
  assert.deepEqual(trustedKeysFrom([good, lying, { keyid: 'x', publicKey: '%%' }]).map((k) => k.keyid), [admissionKey.keyid]);
});
