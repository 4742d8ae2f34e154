import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64, toBase64, toHex, utf8 } from '../../src/core/bytes.js';
import { PAYLOAD_TYPES, signEnvelope, type SigningKey } from '../../src/core/envelope.js';
import { DammError, type ErrorCode } from '../../src/core/errors.js';
import {
  addRootSignatures,
  assertRootFresh,
  buildRoot,
  keyValidFor,
  parseRootDocument,
  roleKeys,
  rootToInput,
  rotatedRoles,
  signRoot,
  trustRoot,
  verifyNextRoot,
  verifyRootChain,
  walkRootChain,
  type BuildRootInput,
} from '../../src/core/trust/root.js';
import { T0, DAY, at, key } from '../helpers/trust-fixtures.js';
import { checkRootSha256, claimedRootVersion, envelopePayloadSha256, parseRootSha256 } from '../../src/core/trust/pin.js';

const [R1, R2, R3, C1, C2, A1, A2] = ['r1', 'r2', 'r3', 'c1', 'c2', 'a1', 'a2'].map(key) as [SigningKey, SigningKey, SigningKey, SigningKey, SigningKey, SigningKey, SigningKey];
const win = (k: SigningKey, from = at(-DAY), to = at(365 * DAY)) => ({ publicKey: k.publicKey, notBefore: from, notAfter: to });

function input(over: Partial<BuildRootInput> = {}): BuildRootInput {
  return {
    version: 1,
    issuedAt: at(-DAY),
    expiresAt: at(365 * DAY),
    root: { keys: [R1.publicKey], threshold: 1 },
    catalog: { keys: [win(C1)], threshold: 1 },
    admission: { keys: [win(A1)], threshold: 1 },
    ...over,
  };
}

function code(fn: () => unknown, expected: ErrorCode, reason?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DammError, String(e));
    assert.equal(e.code, expected, e.message);
    if (reason) assert.equal(e.details?.reason, reason);
    return true;
  });
}

describe('root document', () => {
  it('builds the documented JSON shape', () => {
    const doc = buildRoot(input());
    assert.deepEqual(Object.keys(doc), ['kind', 'specVersion', 'version', 'issuedAt', 'expiresAt', 'keys', 'roles']);
    assert.equal(doc.kind, 'root');
    assert.deepEqual(doc.roles.catalog, { keyids: [C1.keyid], threshold: 1 });
    assert.deepEqual(Object.keys(doc.keys[C1.keyid]!), ['keytype', 'publicKey', 'notBefore', 'notAfter']);
    assert.deepEqual(Object.keys(doc.keys[R1.keyid]!), ['keytype', 'publicKey']);
    assert.equal(doc.keys[C1.keyid]!.notAfter, at(365 * DAY).toISOString());
  });

  it('rootToInput inverts buildRoot', () => {
    const doc = buildRoot(input());
    assert.deepEqual(buildRoot(rootToInput(doc)), doc);
    const next = buildRoot({ ...rootToInput(doc), version: 2, catalog: { keys: [win(C2)], threshold: 1 } });
    assert.equal(next.version, 2);
    assert.deepEqual(next.roles.catalog.keyids, [C2.keyid]);
  });

  const bad: Array<[string, (d: Record<string, any>) => void]> = [
    ['unknown top-level field', (d) => (d.extra = 1)],
    ['wrong kind', (d) => (d.kind = 'catalog')],
    ['version 0', (d) => (d.version = 0)],
    ['fractional version', (d) => (d.version = 1.5)],
    ['a date that does not exist', (d) => (d.expiresAt = '2027-02-30T00:00:00Z')],
    ['expiry before issue', (d) => (d.expiresAt = d.issuedAt)],
    ['threshold above key count', (d) => (d.roles.catalog.threshold = 2)],
    ['threshold 0', (d) => (d.roles.root.threshold = 0)],
    ['role names a missing key', (d) => d.roles.catalog.keyids.push('0'.repeat(64))],
    ['key id listed twice in a role', (d) => d.roles.catalog.keyids.push(d.roles.catalog.keyids[0])],
    ['online key without window', (d) => delete d.keys[C1.keyid].notBefore],
    ['root key with a window', (d) => Object.assign(d.keys[R1.keyid], { notBefore: d.issuedAt, notAfter: d.expiresAt })],
    ['key in no role', (d) => (d.keys[C2.keyid] = { keytype: 'ed25519', publicKey: toBase64(C2.publicKey) })],
    ['missing role', (d) => delete d.roles.admission],
    ['unknown role', (d) => (d.roles.mirror = { keyids: [], threshold: 1 })],
    ['window inverted', (d) => (d.keys[C1.keyid].notAfter = d.keys[C1.keyid].notBefore)],
    ['non-ed25519 key', (d) => (d.keys[C1.keyid].keytype = 'rsa')],
  ];
  for (const [name, mutate] of bad) {
    it(`refuses a root with ${name}`, () => {
      const d = JSON.parse(JSON.stringify(buildRoot(input())));
      mutate(d);
      code(() => parseRootDocument(d), 'trust_invalid');
    });
  }

  it('refuses one key serving catalog and admission', () => {
    code(() => buildRoot(input({ admission: { keys: [win(C1)], threshold: 1 } })), 'trust_invalid');
  });
});

describe('trusting and walking roots', () => {
  it('trustRoot checks the pin before anything else and needs its own threshold', () => {
    const env = signRoot(buildRoot(input()), [R1]);
    const sha = toHex(sha256(fromBase64(env.payload)!));
    assert.equal(trustRoot(env, { pinnedSha256: sha }).payloadSha256, sha);
    code(() => trustRoot(env, { pinnedSha256: '0'.repeat(64) }), 'trust_invalid', 'pin_mismatch');
    code(() => trustRoot(signRoot(buildRoot(input()), [R2])), 'signature_invalid');
    code(() => trustRoot({ ...env, payloadType: PAYLOAD_TYPES.catalog }), 'payload_type_mismatch');
  });

  it('separate root-key holders can add signatures one after another', () => {
    const three = { keys: [R1.publicKey, R2.publicKey, R3.publicKey], threshold: 2 };
    const partial = signRoot(buildRoot(input({ root: three })), [R1]);
    code(() => trustRoot(partial), 'signature_invalid');
    const full = addRootSignatures(partial, [R1, R2]);
    assert.equal(full.signatures.length, 2);
    assert.equal(trustRoot(full).version, 1);
  });

  it('verified roots are frozen', () => {
    const r = trustRoot(signRoot(buildRoot(input()), [R1]));
    assert.ok(Object.isFrozen(r) && Object.isFrozen(r.document) && Object.isFrozen(r.document.roles.catalog.keyids));
    assert.throws(() => (r.document.roles.catalog.keyids as string[]).push(C2.keyid));
  });

  it('reports rotated online roles: keys added or removed, or a window changed', () => {
    const r1 = trustRoot(signRoot(buildRoot(input()), [R1]));
    const next = (over: Partial<BuildRootInput>) => verifyNextRoot(r1, signRoot(buildRoot(input({ version: 2, ...over })), [R1]));
    assert.deepEqual(rotatedRoles(r1, next({})), []);
    assert.deepEqual(rotatedRoles(r1, next({ catalog: { keys: [win(C1), win(C2)], threshold: 1 } })), ['catalog']);
    assert.deepEqual(rotatedRoles(r1, next({ admission: { keys: [win(A2)], threshold: 1 } })), ['admission']);
    assert.deepEqual(rotatedRoles(r1, next({ catalog: { keys: [win(C1, at(-DAY), at(DAY))], threshold: 1 } })), ['catalog']);
    assert.deepEqual(rotatedRoles(r1, next({ root: { keys: [R1.publicKey, R2.publicKey], threshold: 1 } })), []);
  });

  it('walks a long chain one version at a time and reports every rotation on the way', () => {
    const envs = [signRoot(buildRoot(input()), [R1])];
    for (let v = 2; v <= 10; v++) {
      const cat = v === 4 ? [win(C2)] : v >= 4 ? [win(C2)] : [win(C1)];
      const adm = v === 9 ? [win(A2)] : v > 9 ? [win(A2)] : [win(A1)];
      envs.push(signRoot(buildRoot(input({ version: v, catalog: { keys: cat, threshold: 1 }, admission: { keys: adm, threshold: 1 } })), [R1]));
    }
    const up = verifyRootChain(trustRoot(envs[0]), envs, T0);
    assert.equal(up.root.version, 10);
    assert.equal(up.walked.length, 9);
    assert.deepEqual(up.rotatedRoles, ['catalog', 'admission']);
  });

  it('walkRootChain keeps the verified progress and returns the refusal instead of throwing (TUF 5.3.7)', () => {
    const v1 = signRoot(buildRoot(input()), [R1]);
    const v2 = signRoot(buildRoot(input({ version: 2, catalog: { keys: [win(C2)], threshold: 1 } })), [R1]);
    const forgedV3 = signRoot(buildRoot(input({ version: 3, root: { keys: [R2.publicKey], threshold: 1 } })), [R2]);
    const walk = walkRootChain(trustRoot(v1), [v1, v2, forgedV3]);
    assert.equal(walk.root.version, 2, 'v2 was verified and is kept');
    assert.deepEqual(walk.rotatedRoles, ['catalog']);
    assert.ok(walk.failure instanceof DammError && walk.failure.code === 'signature_invalid', String(walk.failure));
    code(() => verifyRootChain(trustRoot(v1), [v2, forgedV3], T0), 'signature_invalid');
    // Too long a chain: the walk stops at maxWalk and says so.
    const v3 = signRoot(buildRoot(input({ version: 3 })), [R1]);
    const long = walkRootChain(trustRoot(v1), [v2, v3], { maxWalk: 1 });
    assert.equal(long.root.version, 2);
    assert.equal((long.failure as DammError).details?.['reason'], 'root_walk_too_long');
    assert.equal(walkRootChain(trustRoot(v1), [v2, v3]).failure, null);
  });

  it('one pin rule for every client: 64 hex digits, any case, blanks trimmed; the digest is of the payload bytes', () => {
    const env = signRoot(buildRoot(input()), [R1]);
    const sha = toHex(sha256(fromBase64(env.payload)!));
    assert.equal(envelopePayloadSha256(env), sha);
    assert.equal(trustRoot(env, { pinnedSha256: sha }).payloadSha256, sha);
    assert.equal(parseRootSha256(` ${sha.toUpperCase()}\n`), sha);
    assert.equal(parseRootSha256(sha.slice(0, 63)), null);
    assert.equal(parseRootSha256(`${sha.slice(0, 63)}g`), null);
    assert.equal(checkRootSha256(sha, '--root-sha256'), sha);
    assert.throws(() => checkRootSha256('abc', '--root-sha256'), (e: unknown) => e instanceof DammError && e.code === 'invalid_argument' && /--root-sha256 must be the 64-hex-digit sha256/.test(e.message));
    assert.equal(envelopePayloadSha256({ payload: 42 }), null);
    assert.equal(envelopePayloadSha256(null), null);
    assert.equal(claimedRootVersion(env), 1);
    assert.equal(claimedRootVersion({ payload: toBase64(utf8.encode('{"version":-3}')) }), null);
    assert.equal(claimedRootVersion({ payload: 'not base64!' }), null);
  });

  it('key windows: notBefore gets the skew allowance, notAfter none', () => {
    const r = trustRoot(signRoot(buildRoot(input({ catalog: { keys: [win(C1, at(0), at(DAY))], threshold: 1 } })), [R1]));
    const [k] = roleKeys(r, 'catalog');
    assert.ok(k);
    assert.equal(keyValidFor(k, at(-5 * 60_000)), true);
    assert.equal(keyValidFor(k, at(-5 * 60_000 - 1)), false);
    assert.equal(keyValidFor(k, at(DAY - 1)), true);
    assert.equal(keyValidFor(k, at(DAY)), false);
  });

  it('assertRootFresh rejects at exactly expiresAt', () => {
    const r = trustRoot(signRoot(buildRoot(input({ expiresAt: at(DAY) })), [R1]));
    assertRootFresh(r, at(DAY - 1));
    code(() => assertRootFresh(r, at(DAY)), 'trust_invalid', 'root_expired');
    code(() => assertRootFresh(r, new Date('nope')), 'invalid_argument');
  });

  it('a root envelope with trailing bytes after the JSON is refused even when signed', () => {
    const r1 = trustRoot(signRoot(buildRoot(input()), [R1]));
    const bytes = utf8.encode(`${JSON.stringify(buildRoot(input({ version: 2 })))}garbage`);
    code(() => verifyNextRoot(r1, signEnvelope(PAYLOAD_TYPES.root, bytes, [R1])), 'signature_invalid');
  });
});
