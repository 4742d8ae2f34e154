/** Shared fixtures for the trust tests: a fixed clock origin and deterministic keys. */
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8 } from '../../src/core/bytes.js';
import { PAYLOAD_TYPES, signEnvelope, signingKeyFromSeed, type Envelope, type SigningKey } from '../../src/core/envelope.js';
import assert from 'node:assert/strict';
import { admissionTrustFrom, type GatewayTrust, type RefusalReason, type Verdict } from '../../src/core/admission.js';
import type { FrontDoor } from '../../src/core/api-schemas.js';
import { parsePools } from '../../src/core/ipam.js';
import { buildRoot, signRoot, trustRoot, type VerifiedRoot } from '../../src/core/trust/root.js';

export const T0 = new Date('2026-06-01T00:00:00.000Z');
export const MIN = 60_000;
export const DAY = 86_400_000;
export const at = (ms: number): Date => new Date(T0.getTime() + ms);
/** The same label always gives the same key, so failures are reproducible. */
export const key = (label: string): SigningKey => signingKeyFromSeed(sha256(utf8.encode(`damm-test:${label}`)));

/** Catalog signing as the control plane does it (core/catalog.ts signCatalog): the JSON bytes in a catalog envelope. */
export const signCatalog = (c: CatalogBody, keys: SigningKey[]): Envelope => signEnvelope(PAYLOAD_TYPES.catalog, utf8.encode(JSON.stringify(c)), keys);

/** A catalog as the tests build it; frontDoors is loose on purpose, so a test can sign a malformed one. */
export interface CatalogBody {
  version: number;
  issuedAt: string;
  expiresAt: string;
  frontDoors: unknown[];
}

/** A well-formed front door (the shape the catalog verifier requires). */
export const DOOR: FrontDoor = {
  id: 'gw-nl-1-T0-51820',
  gatewayId: '0b6c3a8e-5d3f-4e0a-9a57-1f2d3c4b5a69',
  region: 'NL',
  country: 'NL',
  tier: 'T0',
  endpoint: 'gw.example:51820',
  publicKey: 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=',
  protocol: 'wireguard',
  params: null,
  tunnel: { ipv4Cidr: '10.8.0.0/16', ipv6Prefix: 'fd00::/64' },
};

/** A device id as the control plane issues them (the verifier refuses anything but a lowercase UUID). */
export const DEVICE_ID = '6f1c1f7e-9a59-4b1e-8d53-3b8f1c2d4e5f';
/** The tunnel pools the admission fixtures allocate from. */
export const POOLS = parsePools({ ipv4Cidr: '10.8.0.0/16', ipv6Prefix: 'fd00::/64' });

/**
 * What a gateway with a pinned root verifies admissions with at `now`
 * (src/gateway/agent/trust.ts calls the same admissionTrustFrom), so the
 * adversarial suite attacks the code production runs.
 */
export function gatewayTrustFrom(root: VerifiedRoot, now: Date, scope = 'default'): GatewayTrust {
  return { scope, pools: POOLS, ...admissionTrustFrom(root, now) };
}

/** Asserts a refusal with this reason (and, optionally, a message matching). */
export function refused(v: Verdict<unknown>, reason: RefusalReason, message?: RegExp): void {
  assert.equal(v.ok, false, `expected a refusal (${reason}), got acceptance`);
  if (v.ok) return;
  assert.equal(v.reason, reason, v.message);
  if (message) assert.match(v.message, message);
}

/** A verified root v1 whose catalog role is `catalogKey` (and admission role `admissionKey`), valid a year around T0. */
export function rootTrusting(catalogKey: SigningKey, admissionKey: SigningKey = key('fixture-adm')): VerifiedRoot {
  const R = key('fixture-root');
  const win = (k: SigningKey) => ({ publicKey: k.publicKey, notBefore: at(-365 * DAY), notAfter: at(365 * DAY) });
  const doc = buildRoot({
    version: 1,
    issuedAt: at(-365 * DAY),
    expiresAt: at(365 * DAY),
    root: { keys: [R.publicKey], threshold: 1 },
    catalog: { keys: [win(catalogKey)], threshold: 1 },
    admission: { keys: [win(admissionKey)], threshold: 1 },
  });
  return trustRoot(signRoot(doc, [R]));
}
