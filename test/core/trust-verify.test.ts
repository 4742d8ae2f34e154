import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toBase64, utf8 } from '../../src/core/bytes.js';
import { PAYLOAD_TYPES, signEnvelope, type SigningKey } from '../../src/core/envelope.js';
import { DammError, type ErrorCode } from '../../src/core/errors.js';
import { buildRoot, signRoot, trustRoot, type VerifiedRoot } from '../../src/core/trust/root.js';
import {
  MAX_CATALOG_GRACE_SECONDS,
  signAdmission,
  signRevocation,
  verifyAdmissionWithRoot,
  verifyCatalogWithRoot,
  verifyRevocationWithRoot,
  type AdmissionRecord,
  type CatalogBody,
} from '../../src/core/trust/verify.js';
import { T0, MIN, DAY, at, key, signCatalog } from '../helpers/trust-fixtures.js';


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
  frontDoors: [{ host: 'a.example', port: 51820 }],
  ...over,
});
const WG = toBase64(new Uint8Array(32).fill(9));
const adm = (over: Partial<AdmissionRecord> = {}): AdmissionRecord => ({
  kind: 'admission',
  deviceId: 'dev-42',
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

describe('verifyCatalogWithRoot', () => {
  const root = makeRoot();

  it('returns the parsed catalog, its hash, signers and staleness', () => {
    const r = verifyCatalogWithRoot(signCatalog(cat(3), [C1]), root, { now: T0 });
    assert.equal(r.version, 3);
    assert.equal(r.stale, false);
    assert.match(r.payloadSha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(r.signers, [C1.keyid]);
    assert.deepEqual(r.catalog.frontDoors, [{ host: 'a.example', port: 51820 }]);
    assert.equal(r.expiresAt.getTime(), at(DAY).getTime());
  });

  it('accepts a newer version after lastSeen', () => {
    const v3 = verifyCatalogWithRoot(signCatalog(cat(3), [C1]), root, { now: T0 });
    assert.equal(verifyCatalogWithRoot(signCatalog(cat(4), [C1]), root, { now: T0, lastSeen: v3 }).version, 4);
  });

  it('runs the front-door hook on verified data only, and its refusal propagates', () => {
    const seen: unknown[] = [];
    const r = verifyCatalogWithRoot(signCatalog(cat(1), [C1]), root, {
      now: T0,
      validateFrontDoors: (fd) => {
        seen.push(...fd);
        return fd.map((x) => String((x as { host: string }).host));
      },
    });
    assert.deepEqual(r.catalog.frontDoors, ['a.example']);
    assert.equal(seen.length, 1);
    code(
      () =>
        verifyCatalogWithRoot(signCatalog(cat(1), [C1]), root, {
          now: T0,
          validateFrontDoors: () => {
            throw new DammError('record_invalid', 'bad door');
          },
        }),
      'record_invalid',
    );
    let called = false;
    code(() => verifyCatalogWithRoot(signCatalog(cat(1), [C2]), root, { now: T0, validateFrontDoors: () => ((called = true), []) }), 'signature_invalid');
    assert.equal(called, false);
  });

  it('threshold counts only keys valid now: 2-of-3 with one key retired needs the two others', () => {
    const r = makeRoot([win(C1, at(-DAY), at(-MIN)), win(C2), win(C3)], 2);
    code(() => verifyCatalogWithRoot(signCatalog(cat(1), [C1, C2]), r, { now: T0 }), 'signature_invalid', 'key_outside_validity_window');
    assert.equal(verifyCatalogWithRoot(signCatalog(cat(1), [C2, C3]), r, { now: T0 }).signers.length, 2);
    code(() => verifyCatalogWithRoot(signCatalog(cat(1), [C2]), r, { now: T0 }), 'signature_invalid');
  });

  it('refuses malformed catalogs as record_invalid', () => {
    const raw = (v: unknown) => signEnvelope(PAYLOAD_TYPES.catalog, utf8.encode(JSON.stringify(v)), [C1]);
    code(() => verifyCatalogWithRoot(raw([1]), root, { now: T0 }), 'record_invalid');
    code(() => verifyCatalogWithRoot(raw({ ...cat(1), version: '1' }), root, { now: T0 }), 'record_invalid');
    code(() => verifyCatalogWithRoot(raw({ ...cat(1), frontDoors: {} }), root, { now: T0 }), 'record_invalid');
    code(() => verifyCatalogWithRoot(raw({ ...cat(1), expiresAt: at(-MIN).toISOString() }), root, { now: T0 }), 'record_invalid');
    code(() => verifyCatalogWithRoot(raw({ ...cat(1), issuedAt: 'yesterday' }), root, { now: T0 }), 'record_invalid');
  });

  it('validates its options', () => {
    const env = signCatalog(cat(1), [C1]);
    code(() => verifyCatalogWithRoot(env, root, { now: new Date(NaN) }), 'invalid_argument');
    code(() => verifyCatalogWithRoot(env, root, { now: T0, graceSeconds: MAX_CATALOG_GRACE_SECONDS + 1 }), 'invalid_argument');
    code(() => verifyCatalogWithRoot(env, root, { now: T0, graceSeconds: -1 }), 'invalid_argument');
    code(() => verifyCatalogWithRoot(env, root, { now: T0, lastSeen: { version: 1, payloadSha256: 'x' } }), 'invalid_argument');
  });

  it('refuses a non-envelope', () => {
    code(() => verifyCatalogWithRoot(null, root, { now: T0 }), 'signature_invalid');
    code(() => verifyCatalogWithRoot({ payloadType: PAYLOAD_TYPES.catalog, payload: '!!', signatures: [] }, root, { now: T0 }), 'signature_invalid');
  });
});

describe('verifyAdmissionWithRoot / verifyRevocationWithRoot', () => {
  const root = makeRoot();
  const opts = { now: T0, scope: 'prod' };

  it('accepts a well-formed admission in scope and window', () => {
    const r = verifyAdmissionWithRoot(signAdmission(adm(), [A1]), root, opts);
    assert.equal(r.record.deviceId, 'dev-42');
    assert.deepEqual(r.signers, [A1.keyid]);
    assert.equal(r.notAfter.getTime(), at(DAY).getTime());
  });

  it('refuses malformed admissions', () => {
    const bad: Array<Partial<AdmissionRecord> | Record<string, unknown>> = [
      { publicKey: 'not-a-key' },
      { allowedIps: [] },
      { allowedIps: ['10.0.0.1'] },
      { allowedIps: 'x' as unknown as string[] },
      { deviceId: '' },
      { notAfter: at(-2 * MIN).toISOString() },
    ];
    for (const over of bad) {
      code(() => verifyAdmissionWithRoot(signAdmission(adm(over as Partial<AdmissionRecord>), [A1]), root, opts), 'record_invalid');
    }
    const extra = signEnvelope(PAYLOAD_TYPES.admission, utf8.encode(JSON.stringify({ ...adm(), admin: true })), [A1]);
    code(() => verifyAdmissionWithRoot(extra, root, opts), 'record_invalid');
    code(() => verifyAdmissionWithRoot(signAdmission(adm(), [A1]), root, { now: T0, scope: '' }), 'invalid_argument');
  });

  it('accepts a revocation, even one dated ahead', () => {
    const rec = { kind: 'revocation' as const, deviceId: 'dev-42', publicKey: WG, scope: 'prod', revokedAt: at(DAY).toISOString() };
    const r = verifyRevocationWithRoot(signRevocation(rec, [A1]), root, opts);
    assert.equal(r.record.deviceId, 'dev-42');
    code(() => verifyRevocationWithRoot(signRevocation({ ...rec, scope: 'dev' }, []), root, opts), 'signature_invalid');
    code(() => verifyRevocationWithRoot(signRevocation({ ...rec, scope: 'dev' }, [A1]), root, opts), 'record_invalid', 'scope_mismatch');
    code(() => verifyRevocationWithRoot(signRevocation(rec, [C1]), root, opts), 'signature_invalid');
  });
});
