import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { generateSigningKey, pae, PAYLOAD_TYPES, signEnvelope } from '../../src/core/envelope.js';
import { signCatalog, verifyCatalog } from '../../src/core/catalog.js';
import type { CatalogPayload } from '../../src/core/api-schemas.js';
import { utf8 } from '../../src/core/bytes.js';
import { rootTrusting } from '../helpers/trust-fixtures.js';

const key = generateSigningKey();
const root = rootTrusting(key);
const now = new Date('2026-06-01T00:00:00Z');
const catalog = (version: number, expiresAt = '2026-06-08T00:00:00.000Z'): CatalogPayload => ({
  version,
  issuedAt: '2026-06-01T00:00:00.000Z',
  expiresAt,
  frontDoors: [],
});

test('an independent Ed25519 implementation (node:crypto) verifies the catalog signature over PAE bytes', () => {
  const env = signCatalog(catalog(1), [key]);
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(key.publicKey)]);
  const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  const msg = pae(env.payloadType, Buffer.from(env.payload, 'base64'));
  assert.equal(nodeVerify(null, msg, pub, Buffer.from(env.signatures[0]!.sig, 'base64')), true);
});

test('a good catalog verifies and reports what was seen', () => {
  const v = verifyCatalog(signCatalog(catalog(3), [key]), root, { now });
  assert.equal(v.catalog.version, 3);
  assert.equal(v.version, 3);
  assert.match(v.payloadSha256, /^[0-9a-f]{64}$/);
});

test('forged: a flipped payload byte is rejected', () => {
  const env = signCatalog(catalog(1), [key]);
  const bytes = Buffer.from(env.payload, 'base64');
  bytes[5] = bytes[5]! ^ 1;
  assert.throws(() => verifyCatalog({ ...env, payload: bytes.toString('base64') }, root, { now }), (e: any) => e.code === 'signature_invalid');
});

test('a catalog signed by an untrusted key is rejected', () => {
  const other = generateSigningKey();
  assert.throws(() => verifyCatalog(signCatalog(catalog(1), [other]), root, { now }), (e: any) => e.code === 'signature_invalid');
});

test('an expired catalog is rejected', () => {
  assert.throws(() => verifyCatalog(signCatalog({ ...catalog(1, '2026-05-31T00:00:00.000Z'), issuedAt: '2026-05-30T00:00:00.000Z' }, [key]), root, { now }), (e: any) => e.code === 'catalog_expired');
});

test('a rolled-back catalog, or a different one at the same version, is rejected', () => {
  const seen = verifyCatalog(signCatalog(catalog(5), [key]), root, { now });
  assert.throws(() => verifyCatalog(signCatalog(catalog(4), [key]), root, { now, lastSeen: seen }), (e: any) => e.code === 'catalog_rollback');
  const same = { ...catalog(5), issuedAt: '2026-06-01T00:00:01.000Z' };
  assert.throws(() => verifyCatalog(signCatalog(same, [key]), root, { now, lastSeen: seen }), (e: any) => e.code === 'catalog_rollback');
  assert.equal(verifyCatalog(signCatalog(catalog(6), [key]), root, { now, lastSeen: seen }).catalog.version, 6);
});

test('an admission record presented as a catalog is rejected by payload type', () => {
  const env = signEnvelope(PAYLOAD_TYPES.admission, utf8.encode(JSON.stringify(catalog(1))), [key]);
  assert.throws(() => verifyCatalog(env, root, { now }), (e: any) => e.code === 'payload_type_mismatch');
});

test('a well-signed payload that is not a catalog is rejected', () => {
  const env = signEnvelope(PAYLOAD_TYPES.catalog, utf8.encode('{"version":1}'), [key]);
  assert.throws(() => verifyCatalog(env, root, { now }), (e: any) => e.code === 'record_invalid' && /catalog shape/.test(e.message));
  const trailing = signEnvelope(PAYLOAD_TYPES.catalog, utf8.encode(`${JSON.stringify(catalog(1))} x`), [key]);
  assert.throws(() => verifyCatalog(trailing, root, { now }), (e: any) => e.code === 'signature_invalid');
});
