/**
 * One named test per trust rule; each attack must be refused with the right code.
 * Positive tests at the end prove the rules do not break legitimate rotations.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64, toBase64, toHex, utf8 } from '../../src/core/bytes.js';
import { PAYLOAD_TYPES, signEnvelope, type Envelope, type SigningKey } from '../../src/core/envelope.js';
import { DammError, type ErrorCode } from '../../src/core/errors.js';
import {
  buildRoot,
  signRoot,
  trustRoot,
  verifyNextRoot,
  verifyRootChain,
  type RootDocument,
  type VerifiedRoot,
} from '../../src/core/trust/root.js';
import { signRecord, verifyAdmission, verifyRevocation, type AdmissionRecord } from '../../src/core/admission.js';
import { verifyCatalog } from '../../src/core/catalog.js';
import { nodeAtomicFs, TrustStateStore, type AtomicFs, type TrustState } from '../../src/client/trust-state.js';
import { T0, MIN, DAY, at, key, signCatalog, gatewayTrustFrom, refused, DEVICE_ID, DOOR, type CatalogBody } from '../helpers/trust-fixtures.js';


// --- fixtures ---------------------------------------------------------------


interface Online {
  key: SigningKey;
  notBefore?: Date;
  notAfter?: Date;
}
interface RootSpec {
  version: number;
  root: SigningKey[];
  rootThreshold?: number;
  catalog: Online[];
  catalogThreshold?: number;
  admission?: Online[];
  issuedAt?: Date;
  expiresAt?: Date;
}
const online = (o: Online) => ({ publicKey: o.key.publicKey, notBefore: o.notBefore ?? at(-DAY), notAfter: o.notAfter ?? at(365 * DAY) });

function rootDoc(s: RootSpec): RootDocument {
  return buildRoot({
    version: s.version,
    issuedAt: s.issuedAt ?? at(-DAY),
    expiresAt: s.expiresAt ?? at(365 * DAY),
    root: { keys: s.root.map((k) => k.publicKey), threshold: s.rootThreshold ?? 1 },
    catalog: { keys: s.catalog.map(online), threshold: s.catalogThreshold ?? 1 },
    admission: { keys: (s.admission ?? [{ key: key('adm1') }]).map(online), threshold: 1 },
  });
}

const R1 = key('root1');
const C1 = key('cat1');
const C2 = key('cat2');
const A1 = key('adm1');
const EVIL = key('evil');

function root1(over: Partial<RootSpec> = {}): { env: Envelope; root: VerifiedRoot } {
  const env = signRoot(rootDoc({ version: 1, root: [R1], catalog: [{ key: C1 }], ...over }), over.root ?? [R1]);
  return { env, root: trustRoot(env) };
}

function catalog(version: number, over: Partial<CatalogBody> = {}): CatalogBody {
  return { version, issuedAt: at(-MIN).toISOString(), expiresAt: at(7 * DAY).toISOString(), frontDoors: [], ...over };
}

const WG_KEY = toBase64(new Uint8Array(32).fill(7));
function admission(over: Partial<AdmissionRecord> = {}): AdmissionRecord {
  return {
    kind: 'admission',
    deviceId: DEVICE_ID,
    publicKey: WG_KEY,
    allowedIps: ['10.8.0.2/32', 'fd00::2/128'],
    scope: 'default',
    notBefore: at(-MIN).toISOString(),
    notAfter: at(DAY).toISOString(),
    ...over,
  };
}

function rejects(fn: () => unknown, code: ErrorCode, reason?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DammError, `expected DammError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (reason !== undefined) assert.equal(err.details?.reason, reason, err.message);
    return true;
  });
}

/** Re-signs arbitrary bytes with a valid key: the signature is fine, the content is the attack. */
function rawEnvelope(type: string, payload: Uint8Array, keys: SigningKey[]): Envelope {
  return signEnvelope(type as (typeof PAYLOAD_TYPES)['catalog'], payload, keys);
}

const now = T0;

// --- signatures -------------------------------------------------------------

describe('trust adversarial: signatures', () => {
  it('forged signature is rejected', () => {
    const { root } = root1();
    const env = signCatalog(catalog(1), [C1]);
    const sig = fromBase64(env.signatures[0]!.sig)!;
    sig[10] = sig[10]! ^ 0xff;
    const forged = { ...env, signatures: [{ keyid: C1.keyid, sig: toBase64(sig) }] };
    rejects(() => verifyCatalog(forged, root, { now }), 'signature_invalid');
  });

  it('payload changed after signing is rejected', () => {
    const { root } = root1();
    const env = signCatalog(catalog(1), [C1]);
    const tampered = { ...env, payload: toBase64(utf8.encode(JSON.stringify(catalog(99)))) };
    rejects(() => verifyCatalog(tampered, root, { now }), 'signature_invalid');
  });

  it('signature by an untrusted key is rejected', () => {
    const { root } = root1();
    rejects(() => verifyCatalog(signCatalog(catalog(1), [EVIL]), root, { now }), 'signature_invalid');
  });

  it('signature by an untrusted key claiming a trusted key id is rejected', () => {
    const { root } = root1();
    const env = signCatalog(catalog(1), [EVIL]);
    const spoofed = { ...env, signatures: [{ keyid: C1.keyid, sig: env.signatures[0]!.sig }] };
    rejects(() => verifyCatalog(spoofed, root, { now }), 'signature_invalid');
  });

  it('signature by a key of another role (admission key on a catalog) is rejected', () => {
    const { root } = root1();
    rejects(() => verifyCatalog(signCatalog(catalog(1), [A1]), root, { now }), 'signature_invalid');
    refused(verifyAdmission(signRecord(admission(), [C1]), gatewayTrustFrom(root, now), now), 'bad_signature');
  });

  it('duplicate signatures are not counted toward a threshold', () => {
    const { root } = root1({ catalog: [{ key: C1 }, { key: C2 }], catalogThreshold: 2 });
    const env = signCatalog(catalog(1), [C1]);
    const doubled = { ...env, signatures: [env.signatures[0]!, env.signatures[0]!] };
    rejects(() => verifyCatalog(doubled, root, { now }), 'signature_invalid');
    // and the honest 2-of-2 passes
    assert.equal(verifyCatalog(signCatalog(catalog(1), [C1, C2]), root, { now }).signers.length, 2);
  });

  it('duplicate root signatures are not counted toward the root threshold', () => {
    const R2 = key('root2');
    const { root } = root1({ root: [R1, R2], rootThreshold: 2 });
    const next = signRoot(rootDoc({ version: 2, root: [R1, R2], rootThreshold: 2, catalog: [{ key: C1 }] }), [R1]);
    const doubled = { ...next, signatures: [next.signatures[0]!, next.signatures[0]!] };
    rejects(() => verifyNextRoot(root, doubled), 'signature_invalid');
  });

  it('a root listing a key under an id that is not sha256 of the key is rejected', () => {
    const doc = rootDoc({ version: 1, root: [R1], catalog: [{ key: C1 }] });
    const entry = doc.keys[C1.keyid]!;
    const fakeId = 'f'.repeat(64);
    const bad = { ...doc, keys: { ...doc.keys, [fakeId]: entry }, roles: { ...doc.roles, catalog: { keyids: [C1.keyid, fakeId], threshold: 2 } } };
    const env = signEnvelope(PAYLOAD_TYPES.root, utf8.encode(JSON.stringify(bad)), [R1]);
    rejects(() => trustRoot(env), 'trust_invalid', 'keyid_mismatch');
  });

  it('a hand-built root object is not accepted as verified', () => {
    const { root } = root1();
    const fake = { ...root } as VerifiedRoot;
    rejects(() => verifyCatalog(signCatalog(catalog(1), [C1]), fake, { now }), 'trust_invalid');
  });
});

// --- root chain -------------------------------------------------------------

describe('trust adversarial: root chain', () => {
  const R2 = key('root2');

  it('root N+1 signed only by the new root keys is rejected', () => {
    const { root } = root1();
    const next = signRoot(rootDoc({ version: 2, root: [R2], catalog: [{ key: C1 }] }), [R2]);
    rejects(() => verifyNextRoot(root, next), 'signature_invalid');
  });

  it('root N+1 signed only by the old root keys is rejected', () => {
    const { root } = root1();
    const next = signRoot(rootDoc({ version: 2, root: [R2], catalog: [{ key: C1 }] }), [R1]);
    rejects(() => verifyNextRoot(root, next), 'signature_invalid');
  });

  it('root N+2 offered after N is rejected (no skipping)', () => {
    const { root } = root1();
    const v3 = signRoot(rootDoc({ version: 3, root: [R1], catalog: [{ key: C2 }] }), [R1]);
    rejects(() => verifyNextRoot(root, v3), 'trust_invalid', 'root_version_skip');
    rejects(() => verifyRootChain(root, [v3], now), 'trust_invalid', 'root_version_skip');
  });

  it('an older root offered after N is rejected (rollback)', () => {
    const v1 = signRoot(rootDoc({ version: 1, root: [R1], catalog: [{ key: C1 }] }), [R1]);
    const v2 = signRoot(rootDoc({ version: 2, root: [R1], catalog: [{ key: C2 }] }), [R1]);
    const r2 = verifyNextRoot(trustRoot(v1), v2);
    rejects(() => verifyNextRoot(r2, v1), 'trust_invalid', 'root_rollback');
  });

  it('root with the same version but different bytes is rejected', () => {
    const { root, env } = root1();
    const twin = signRoot(rootDoc({ version: 1, root: [R1], catalog: [{ key: EVIL }] }), [R1]);
    rejects(() => verifyRootChain(root, [twin], now), 'trust_invalid', 'root_equivocation');
    // the exact same bytes again are a harmless re-offer
    assert.equal(verifyRootChain(root, [env], now).walked.length, 0);
  });

  it('expired final root is rejected', () => {
    const { root } = root1();
    const v2 = signRoot(rootDoc({ version: 2, root: [R1], catalog: [{ key: C1 }], expiresAt: at(-MIN) }), [R1]);
    rejects(() => verifyRootChain(root, [v2], now), 'trust_invalid', 'root_expired');
    rejects(() => verifyCatalog(signCatalog(catalog(1), [C1]), verifyNextRoot(root, v2), { now }), 'trust_invalid', 'root_expired');
  });

  it('expired intermediate roots are walked through (TUF 5.3.5)', () => {
    const { root } = root1();
    const v2 = signRoot(rootDoc({ version: 2, root: [R1], catalog: [{ key: C1 }], issuedAt: at(-10 * DAY), expiresAt: at(-5 * DAY) }), [R1]);
    const v3 = signRoot(rootDoc({ version: 3, root: [R1], catalog: [{ key: C1 }] }), [R1]);
    assert.equal(verifyRootChain(root, [v2, v3], now).root.version, 3);
  });

  it('more than maxWalk root versions in one update are refused', () => {
    const { root } = root1();
    const chain = [2, 3, 4].map((v) => signRoot(rootDoc({ version: v, root: [R1], catalog: [{ key: C1 }] }), [R1]));
    rejects(() => verifyRootChain(root, chain, now, { maxWalk: 2 }), 'trust_invalid', 'root_walk_too_long');
    assert.equal(verifyRootChain(root, chain, now, { maxWalk: 3 }).root.version, 4);
  });

  it('a root key may not double as an online key', () => {
    assert.throws(() => rootDoc({ version: 1, root: [R1], catalog: [{ key: R1 }] }), (e: unknown) => e instanceof DammError && e.code === 'trust_invalid');
  });
});

// --- payload ----------------------------------------------------------------

describe('trust adversarial: payloads', () => {
  it('admission record presented as a catalog is rejected', () => {
    const { root } = root1();
    rejects(() => verifyCatalog(signRecord(admission(), [A1]), root, { now }), 'payload_type_mismatch');
  });

  it('catalog presented as an admission record is rejected', () => {
    const { root } = root1();
    refused(verifyAdmission(signCatalog(catalog(1), [C1]), gatewayTrustFrom(root, now), now), 'wrong_payload_type');
  });

  it('revocation presented as an admission record (and the reverse) is rejected', () => {
    const { root } = root1();
    const rev = signRecord({ kind: 'revocation', deviceId: DEVICE_ID, publicKey: WG_KEY, scope: 'default', revokedAt: '2026-06-01T00:00:00Z' }, [A1]);
    assert.ok(verifyRevocation(rev, gatewayTrustFrom(root, now)).ok, 'the revocation itself is valid');
    refused(verifyAdmission(rev, gatewayTrustFrom(root, now), now), 'wrong_payload_type');
    refused(verifyRevocation(signRecord(admission(), [A1]), gatewayTrustFrom(root, now)), 'wrong_payload_type');
  });

  it('catalog envelope relabelled with another payload type is rejected', () => {
    const { root } = root1();
    const env = signCatalog(catalog(1), [C1]);
    rejects(() => verifyCatalog({ ...env, payloadType: PAYLOAD_TYPES.admission }, root, { now }), 'payload_type_mismatch');
    refused(verifyAdmission({ ...env, payloadType: PAYLOAD_TYPES.admission }, gatewayTrustFrom(root, now), now), 'bad_signature');
  });

  it('oversized payload is rejected before parsing', () => {
    const { root } = root1();
    const big = catalog(1, { frontDoors: ['x'.repeat((1 << 20) + 10)] });
    rejects(() => verifyCatalog(signCatalog(big, [C1]), root, { now }), 'signature_invalid');
  });

  it('trailing-garbage payload is rejected even with a valid signature', () => {
    const { root } = root1();
    const bytes = utf8.encode(`${JSON.stringify(catalog(1))}{"version":999}`);
    rejects(() => verifyCatalog(rawEnvelope(PAYLOAD_TYPES.catalog, bytes, [C1]), root, { now }), 'signature_invalid');
  });

  it('unknown catalog fields are refused', () => {
    const { root } = root1();
    const bytes = utf8.encode(JSON.stringify({ ...catalog(1), trustMe: true }));
    rejects(() => verifyCatalog(rawEnvelope(PAYLOAD_TYPES.catalog, bytes, [C1]), root, { now }), 'record_invalid');
  });

  it('admission record for another scope is rejected', () => {
    const { root } = root1();
    refused(verifyAdmission(signRecord(admission({ scope: 'other' }), [A1]), gatewayTrustFrom(root, now), now), 'wrong_scope');
    refused(verifyRevocation(signRecord({ kind: 'revocation', deviceId: DEVICE_ID, publicKey: WG_KEY, scope: 'other', revokedAt: '2026-06-01T00:00:00Z' }, [A1]), gatewayTrustFrom(root, now)), 'wrong_scope');
  });

  it('expired admission record is rejected', () => {
    const { root } = root1();
    const rec = admission({ notBefore: at(-2 * DAY).toISOString(), notAfter: at(-DAY).toISOString() });
    refused(verifyAdmission(signRecord(rec, [A1]), gatewayTrustFrom(root, now), now), 'expired');
  });
});

// --- versions and time -------------------------------------------------------

describe('trust adversarial: versions and time', () => {
  it('catalog rollback is rejected', () => {
    const { root } = root1();
    const v5 = verifyCatalog(signCatalog(catalog(5), [C1]), root, { now });
    rejects(
      () => verifyCatalog(signCatalog(catalog(4), [C1]), root, { now, lastSeen: v5 }),
      'catalog_rollback',
      'rollback',
    );
  });

  it('catalog with the same version but different bytes is rejected', () => {
    const { root } = root1();
    const v5 = verifyCatalog(signCatalog(catalog(5), [C1]), root, { now });
    const twin = signCatalog(catalog(5, { frontDoors: [DOOR] }), [C1]);
    rejects(() => verifyCatalog(twin, root, { now, lastSeen: v5 }), 'catalog_rollback', 'equivocation');
    // the same bytes again are fine (a refetch)
    assert.equal(verifyCatalog(signCatalog(catalog(5), [C1]), root, { now, lastSeen: v5 }).version, 5);
  });

  it('expired catalog is rejected; within the grace period it is returned flagged stale', () => {
    const { root } = root1();
    const env = signCatalog(catalog(1, { issuedAt: at(-2 * DAY).toISOString(), expiresAt: at(-MIN).toISOString() }), [C1]);
    rejects(() => verifyCatalog(env, root, { now }), 'catalog_expired');
    const graced = verifyCatalog(env, root, { now, graceSeconds: 3600 });
    assert.equal(graced.stale, true);
    rejects(() => verifyCatalog(env, root, { now: at(61 * MIN), graceSeconds: 3600 }), 'catalog_expired');
    assert.equal(verifyCatalog(signCatalog(catalog(2), [C1]), root, { now, graceSeconds: 3600 }).stale, false);
  });

  it('old key after its overlap ended is rejected', () => {
    // Root 2 rotates catalog C1 -> C2 at T0 with a 7-day overlap.
    const { root: r1 } = root1();
    const v2 = signRoot(
      rootDoc({ version: 2, root: [R1], catalog: [{ key: C1, notAfter: at(7 * DAY) }, { key: C2, notBefore: T0 }] }),
      [R1],
    );
    const r2 = verifyNextRoot(r1, v2);
    const later = at(8 * DAY);
    const oldOnly = signCatalog(catalog(9, { issuedAt: later.toISOString(), expiresAt: at(9 * DAY).toISOString() }), [C1]);
    rejects(() => verifyCatalog(oldOnly, r2, { now: later }), 'signature_invalid', 'key_outside_validity_window');
    // a backdated issuedAt does not help: windows are judged at the verifier's now
    const backdated = signCatalog(catalog(9, { issuedAt: at(DAY).toISOString(), expiresAt: at(9 * DAY).toISOString() }), [C1]);
    rejects(() => verifyCatalog(backdated, r2, { now: later }), 'signature_invalid', 'key_outside_validity_window');
    // the same is true for admission keys
    const A2 = key('adm2');
    const v2a = signRoot(
      rootDoc({ version: 2, root: [R1], catalog: [{ key: C1 }], admission: [{ key: A1, notAfter: at(7 * DAY) }, { key: A2, notBefore: T0 }] }),
      [R1],
    );
    const rec = admission({ notBefore: at(5 * DAY).toISOString(), notAfter: at(11 * DAY).toISOString() });
    const r2a = verifyNextRoot(r1, v2a);
    refused(verifyAdmission(signRecord(rec, [A1]), gatewayTrustFrom(r2a, later), later), 'bad_signature', /outside their validity window/);
    // during the overlap the old key still counts, and after it the new key does
    assert.ok(verifyAdmission(signRecord(rec, [A1]), gatewayTrustFrom(r2a, at(6 * DAY)), at(6 * DAY)).ok);
    assert.ok(verifyAdmission(signRecord(rec, [A2]), gatewayTrustFrom(r2a, later), later).ok);
  });

  it('client clock skew: issuedAt up to 5 minutes ahead is accepted, more is rejected, expiry has no allowance', () => {
    const { root } = root1();
    const ahead = (ms: number) => signCatalog(catalog(1, { issuedAt: at(ms).toISOString() }), [C1]);
    assert.equal(verifyCatalog(ahead(5 * MIN), root, { now }).version, 1);
    rejects(() => verifyCatalog(ahead(5 * MIN + 1000), root, { now }), 'record_invalid', 'issued_in_future');
    // expiry: rejected at exactly expiresAt, accepted 1 ms before
    const exp = signCatalog(catalog(1, { issuedAt: at(-DAY).toISOString(), expiresAt: T0.toISOString() }), [C1]);
    rejects(() => verifyCatalog(exp, root, { now }), 'catalog_expired');
    assert.equal(verifyCatalog(exp, root, { now: at(-1) }).stale, false);
    // a freshly certified key (notBefore 4 min ahead of a slow client clock) already counts
    const { root: rSlow } = root1({ catalog: [{ key: C2, notBefore: at(4 * MIN) }] });
    assert.equal(verifyCatalog(signCatalog(catalog(1), [C2]), rSlow, { now }).version, 1);
    const { root: rTooSlow } = root1({ catalog: [{ key: C2, notBefore: at(6 * MIN) }] });
    rejects(() => verifyCatalog(signCatalog(catalog(1), [C2]), rTooSlow, { now }), 'signature_invalid', 'key_outside_validity_window');
    // admission records follow the same rule
    const early = admission({ notBefore: at(4 * MIN).toISOString() });
    const accepted = verifyAdmission(signRecord(early, [A1]), gatewayTrustFrom(root, now), now);
    assert.ok(accepted.ok && accepted.record.deviceId === DEVICE_ID);
    const tooEarly = admission({ notBefore: at(6 * MIN).toISOString() });
    refused(verifyAdmission(signRecord(tooEarly, [A1]), gatewayTrustFrom(root, now), now), 'not_yet_valid');
    // and so do admission keys: one certified from 4 min ahead already counts, from 6 min ahead not yet
    const A3 = key('adm3');
    const { root: aSlow } = root1({ admission: [{ key: A3, notBefore: at(4 * MIN) }] });
    assert.ok(verifyAdmission(signRecord(admission(), [A3]), gatewayTrustFrom(aSlow, now), now).ok);
    const { root: aTooSlow } = root1({ admission: [{ key: A3, notBefore: at(6 * MIN) }] });
    refused(verifyAdmission(signRecord(admission(), [A3]), gatewayTrustFrom(aTooSlow, now), now), 'bad_signature', /outside their validity window/);
  });
});

// --- persistence ---------------------------------------------------------------

describe('trust adversarial: persistence', () => {
  async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'damm-trust-'));
    try {
      await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  const stateA = (): TrustState => ({ root: root1().env, catalog: null });
  const stateB = (): TrustState => {
    const env = signCatalog(catalog(7), [C1]);
    return { root: root1().env, catalog: { version: 7, payloadSha256: toHex(sha256(fromBase64(env.payload)!)), envelope: env } };
  };

  for (const step of ['write', 'rename'] as const) {
    it(`crash midway persisting trusted state (during ${step}) leaves the previous state intact`, async () => {
      await withDir(async (dir) => {
        await new TrustStateStore(dir).save(stateA());
        const crashing: AtomicFs = {
          ...nodeAtomicFs,
          async writeFileSynced(file, data) {
            if (step === 'write') {
              // half the bytes reach the temp file, then the process "dies"
              await nodeAtomicFs.writeFileSynced(file, data.subarray(0, data.length >> 1));
              throw new Error('simulated crash during write');
            }
            await nodeAtomicFs.writeFileSynced(file, data);
          },
          async rename(from, to) {
            if (step === 'rename') throw new Error('simulated crash before rename');
            await nodeAtomicFs.rename(from, to);
          },
          async unlink() {
            // a dead process cleans nothing up
          },
        };
        await assert.rejects(new TrustStateStore(dir, { fs: crashing }).save(stateB()), (e: unknown) => e instanceof DammError && e.code === 'store_unavailable');
        assert.ok((await readdir(dir)).some((f) => f.includes('.tmp-')), 'a torn temp file was left behind');
        assert.deepEqual(await new TrustStateStore(dir).load(), stateA());
      });
    });
  }
});

// --- positive ------------------------------------------------------------------

describe('trust positive paths', () => {
  it('rotation with overlap: catalogs signed by old and new keys are accepted under old and new roots', () => {
    const { root: r1 } = root1();
    const v2 = signRoot(
      rootDoc({ version: 2, root: [R1], catalog: [{ key: C1, notAfter: at(7 * DAY) }, { key: C2, notBefore: T0 }] }),
      [R1],
    );
    const r2 = verifyRootChain(r1, [v2], now).root;
    const both = signCatalog(catalog(2), [C1, C2]);
    assert.equal(verifyCatalog(both, r1, { now }).version, 2); // a client that has not updated its root yet
    assert.deepEqual(verifyCatalog(both, r2, { now }).signers.sort(), [C1.keyid, C2.keyid].sort());
    // after the overlap, the new key alone suffices under the new root
    const later = at(8 * DAY);
    const newOnly = signCatalog(catalog(3, { issuedAt: later.toISOString(), expiresAt: at(10 * DAY).toISOString() }), [C2]);
    assert.equal(verifyCatalog(newOnly, r2, { now: later }).version, 3);
  });

  it('root key rotation: a walk through three root key sets', () => {
    const [RA, RB, RC] = [key('rootA'), key('rootB'), key('rootC')];
    const v1 = signRoot(rootDoc({ version: 1, root: [RA], catalog: [{ key: C1 }] }), [RA]);
    const v2 = signRoot(rootDoc({ version: 2, root: [RB], catalog: [{ key: C1 }] }), [RA, RB]);
    const v3 = signRoot(rootDoc({ version: 3, root: [RC], catalog: [{ key: C1 }] }), [RB, RC]);
    const v4 = signRoot(rootDoc({ version: 4, root: [RC], catalog: [{ key: C2 }] }), [RC]);
    const up = verifyRootChain(trustRoot(v1), [v2, v3, v4], now);
    assert.equal(up.root.version, 4);
    assert.equal(up.walked.length, 3);
    assert.deepEqual(up.rotatedRoles, ['catalog']);
    assert.equal(verifyCatalog(signCatalog(catalog(1), [C2]), up.root, { now }).version, 1);
    // the retired root key A can no longer move the chain
    rejects(() => verifyNextRoot(up.root, signRoot(rootDoc({ version: 5, root: [RA], catalog: [{ key: EVIL }] }), [RA])), 'signature_invalid');
  });

  it('fast-forward recovery: after the catalog key is rotated out, the huge version signed by the leaked key is forgotten', () => {
    const { root: r1 } = root1();
    // the leaked key C1 signs an enormous version, and the client accepts it
    const ff = verifyCatalog(signCatalog(catalog(2 ** 40), [C1]), r1, { now });
    const lastSeen = { version: ff.version, payloadSha256: ff.payloadSha256 };
    // the operator rotates C1 out, no overlap (leaked key runbook)
    const v2 = signRoot(rootDoc({ version: 2, root: [R1], catalog: [{ key: C2, notBefore: T0 }] }), [R1]);
    const up = verifyRootChain(r1, [v2], now);
    assert.deepEqual(up.rotatedRoles, ['catalog']);
    const honest = signCatalog(catalog(6), [C2]);
    // without the reset the client would be stuck forever ...
    rejects(() => verifyCatalog(honest, up.root, { now, lastSeen }), 'catalog_rollback');
    // ... TUF 5.3.11: rotated role => forget lastSeen
    const after = verifyCatalog(honest, up.root, { now, lastSeen: up.rotatedRoles.includes('catalog') ? null : lastSeen });
    assert.equal(after.version, 6);
    // and the leaked key's catalog is refused under the new root
    rejects(() => verifyCatalog(signCatalog(catalog(2 ** 40 + 1), [C1]), up.root, { now }), 'signature_invalid');
  });

  it('a 2-of-3 root threshold with one key lost still rotates the root', () => {
    const [K1, K2, K3, K4] = [key('share1'), key('share2'), key('share3'), key('share4')];
    const v1 = signRoot(rootDoc({ version: 1, root: [K1, K2, K3], rootThreshold: 2, catalog: [{ key: C1 }] }), [K1, K2, K3]);
    // K3 is lost: K1 + K2 sign root 2, which replaces K3 with K4 (2-of-3 of the new set: K1 + K2 again)
    const v2 = signRoot(rootDoc({ version: 2, root: [K1, K2, K4], rootThreshold: 2, catalog: [{ key: C1 }] }), [K1, K2]);
    const up = verifyRootChain(trustRoot(v1), [v2], now);
    assert.equal(up.root.version, 2);
    assert.deepEqual(up.rotatedRoles, []);
    // one share alone is never enough
    const lone = signRoot(rootDoc({ version: 3, root: [K1, K2, K4], rootThreshold: 2, catalog: [{ key: EVIL }] }), [K1]);
    rejects(() => verifyNextRoot(up.root, lone), 'signature_invalid');
    // an attacker who found the lost K3 and stole one share meets the OLD threshold but not the new one
    const withLost = signRoot(rootDoc({ version: 3, root: [K1, K2, K4], rootThreshold: 2, catalog: [{ key: EVIL }] }), [K1, K3]);
    rejects(() => verifyNextRoot(up.root, withLost), 'signature_invalid');
  });
});
