import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toBase64, utf8 } from '../../src/core/bytes.js';
import { PAYLOAD_TYPES, signEnvelope, type SigningKey } from '../../src/core/envelope.js';
import { DammError, type ErrorCode } from '../../src/core/errors.js';
import { buildRoot, signRoot, trustRoot, type VerifiedRoot } from '../../src/core/trust/root.js';
import { signRecord, verifyAdmission, verifyRevocation, type AdmissionRecord } from '../../src/core/admission.js';
import { MAX_CATALOG_GRACE_SECONDS, verifyCatalog } from '../../src/core/catalog.js';
import { T0, MIN, DAY, at, key, signCatalog, gatewayTrustFrom, refused, DEVICE_ID, DOOR, type CatalogBody } from '../helpers/trust-fixtures.js';


const [R1, C1, C2, C3, A1] = ['r1', 'c1', 'c2', 'c3', 'a1'].map(key) as [SigningKey, SigningKey, SigningKey, SigningKey, SigningKey];
const win = (k: SigningKey, from = at(-DAY), to = at(365 * DAY)) => ({ publicKey: k.publicKey, notBefore: from, notAfter: to });

function makeRoot(catalogKeys = [win(C1)], threshold = 1): VerifiedRoot {
  return trustRoot(
    signRoot(
      buildRoot({
        version: 1,
        issuedAt: at(-DAY),
        expiresAt: at(365 * DAY),
        root: { keys: [R1.publicKey], threshold: 1 },
        catalog: { keys: catalogKeys, threshold },
        admission: { keys: [win(A1)], threshold: 1 },
      }),
      [R1],
    ),
  );
}
const cat = (version: number, over: Partial<CatalogBody> = {}): CatalogBody => ({
  version,
  issuedAt: at(-MIN).toISOString(),
  expiresAt: at(DAY).toISOString(),
  frontDoors: [DOOR],
  ...over,
});
const WG = toBase64(new Uint8Array(32).fill(9));
const adm = (over: Partial<AdmissionRecord> = {}): AdmissionRecord => ({
  kind: 'admission',
  deviceId: DEVICE_ID,
  publicKey: WG,
  allowedIps: ['10.8.0.42/32', 'fd00::2a/128'],
  scope: 'prod',
  notBefore: at(-MIN).toISOString(),
  notAfter: at(DAY).toISOString(),
  ...over,
});

function code(fn: () => unknown, expected: ErrorCode, reason?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DammError, String(e));
    assert.equal(e.code, expected, e.message);
    if (reason) assert.equal(e.details?.reason, reason);
    return true;
  });
}

describe('verifyCatalog', () => {
  const root = makeRoot();

  it('returns the parsed catalog, its hash, signers and staleness', () => {
    const r = verifyCatalog(signCatalog(cat(3), [C1]), root, { now: T0 });
    assert.equal(r.version, 3);
    assert.equal(r.stale, false);
    assert.match(r.payloadSha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(r.signers, [C1.keyid]);
    assert.deepEqual(r.catalog.frontDoors, [DOOR]);
    assert.equal(r.expiresAt.getTime(), at(DAY).getTime());
  });

  it('accepts a newer version after lastSeen', () => {
    const v3 = verifyCatalog(signCatalog(cat(3), [C1]), root, { now: T0 });
    assert.equal(verifyCatalog(signCatalog(cat(4), [C1]), root, { now: T0, lastSeen: v3 }).version, 4);
  });

  it('refuses doors without the door shape, and looks at them only after the signature', () => {
    const odd = cat(1, { frontDoors: [{ host: 'a.example', port: 51820 }] });
    code(() => verifyCatalog(signCatalog(odd, [C1]), root, { now: T0 }), 'record_invalid');
    code(() => verifyCatalog(signCatalog({ ...odd, frontDoors: [{ ...DOOR, extra: 1 }] }, [C1]), root, { now: T0 }), 'record_invalid');
    code(() => verifyCatalog(signCatalog({ ...odd, frontDoors: [{ ...DOOR, publicKey: 'not-a-key' }] }, [C1]), root, { now: T0 }), 'record_invalid');
    // signed by a key the root does not certify: refused for its signature, the doors are never examined
    code(() => verifyCatalog(signCatalog(odd, [C2]), root, { now: T0 }), 'signature_invalid');
  });

  it('threshold counts only keys valid now: 2-of-3 with one key retired needs the two others', () => {
    const r = makeRoot([win(C1, at(-DAY), at(-MIN)), win(C2), win(C3)], 2);
    code(() => verifyCatalog(signCatalog(cat(1), [C1, C2]), r, { now: T0 }), 'signature_invalid', 'key_outside_validity_window');
    assert.equal(verifyCatalog(signCatalog(cat(1), [C2, C3]), r, { now: T0 }).signers.length, 2);
    code(() => verifyCatalog(signCatalog(cat(1), [C2]), r, { now: T0 }), 'signature_invalid');
  });

  it('refuses malformed catalogs as record_invalid', () => {
    const raw = (v: unknown) => signEnvelope(PAYLOAD_TYPES.catalog, utf8.encode(JSON.stringify(v)), [C1]);
    code(() => verifyCatalog(raw([1]), root, { now: T0 }), 'record_invalid');
    code(() => verifyCatalog(raw({ ...cat(1), version: '1' }), root, { now: T0 }), 'record_invalid');
    code(() => verifyCatalog(raw({ ...cat(1), frontDoors: {} }), root, { now: T0 }), 'record_invalid');
    code(() => verifyCatalog(raw({ ...cat(1), expiresAt: at(-MIN).toISOString() }), root, { now: T0 }), 'record_invalid');
    code(() => verifyCatalog(raw({ ...cat(1), issuedAt: 'yesterday' }), root, { now: T0 }), 'record_invalid');
  });

  it('validates its options', () => {
    const env = signCatalog(cat(1), [C1]);
    code(() => verifyCatalog(env, root, { now: new Date(NaN) }), 'invalid_argument');
    code(() => verifyCatalog(env, root, { now: T0, graceSeconds: MAX_CATALOG_GRACE_SECONDS + 1 }), 'invalid_argument');
    code(() => verifyCatalog(env, root, { now: T0, graceSeconds: -1 }), 'invalid_argument');
    code(() => verifyCatalog(env, root, { now: T0, lastSeen: { version: 1, payloadSha256: 'x' } }), 'invalid_argument');
  });

  it('refuses a non-envelope', () => {
    code(() => verifyCatalog(null, root, { now: T0 }), 'signature_invalid');
    code(() => verifyCatalog({ payloadType: PAYLOAD_TYPES.catalog, payload: '!!', signatures: [] }, root, { now: T0 }), 'signature_invalid');
  });
});

describe('verifyAdmission / verifyRevocation against a root (what a pinned gateway runs)', () => {
  const root = makeRoot();
  const trust = gatewayTrustFrom(root, T0, 'prod');

  it('accepts a well-formed admission in scope and window', () => {
    const r = verifyAdmission(signRecord(adm(), [A1]), trust, T0);
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.record.deviceId, DEVICE_ID);
    assert.deepEqual(r.record.allowedIps, ['10.8.0.42/32', 'fd00::2a/128']);
    assert.equal(new Date(r.record.notAfter).getTime(), at(DAY).getTime());
  });

  it('refuses malformed admissions', () => {
    const bad: Array<[Partial<AdmissionRecord> | Record<string, unknown>, string]> = [
      [{ publicKey: 'not-a-key' }, 'malformed'],
      [{ allowedIps: [] }, 'address_outside_pool'],
      [{ allowedIps: ['10.0.0.1'] }, 'address_outside_pool'],
      [{ allowedIps: 'x' as unknown as string[] }, 'address_outside_pool'],
      [{ deviceId: '' }, 'malformed'],
      [{ notAfter: at(-2 * MIN).toISOString() }, 'malformed'],
    ];
    for (const [over, reason] of bad) {
      refused(verifyAdmission(signRecord(adm(over as Partial<AdmissionRecord>), [A1]), trust, T0), reason as never);
    }
    const extra = signEnvelope(PAYLOAD_TYPES.admission, utf8.encode(JSON.stringify({ ...adm(), admin: true })), [A1]);
    refused(verifyAdmission(extra, trust, T0), 'malformed');
    refused(verifyAdmission(signRecord(adm(), [A1]), { ...trust, scope: '' }, T0), 'wrong_scope');
  });

  it('accepts a revocation, even one dated ahead', () => {
    const rec = { kind: 'revocation' as const, deviceId: DEVICE_ID, publicKey: WG, scope: 'prod', revokedAt: at(DAY).toISOString().replace('.000Z', 'Z') };
    const r = verifyRevocation(signRecord(rec, [A1]), trust);
    assert.ok(r.ok && r.record.deviceId === DEVICE_ID);
    refused(verifyRevocation(signRecord({ ...rec, scope: 'dev' }, []), trust), 'bad_signature');
    refused(verifyRevocation(signRecord({ ...rec, scope: 'dev' }, [A1]), trust), 'wrong_scope');
    refused(verifyRevocation(signRecord(rec, [C1]), trust), 'bad_signature');
  });
});
