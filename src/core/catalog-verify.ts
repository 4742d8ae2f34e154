/**
 * Catalog verification without TypeBox, so the same function runs on the
 * server, in gateways and in the browser wizard (where TypeBox would cost
 * ~28 KB of the wizard's 60 KB gzipped JavaScript budget).
 *
 * `isCatalogPayload` is a hand-written check of exactly the `CatalogPayload`
 * schema in api-schemas.ts (required fields, no unknown fields, formats and
 * patterns); a test compares it with TypeBox's Value.Check over mutations of
 * a valid catalog so the two cannot drift apart unnoticed.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { CatalogPayload, FrontDoor } from './api-schemas.js';
import { toHex } from './bytes.js';
import { DammError } from './errors.js';
import { PAYLOAD_TYPES, parseVerifiedJson, verifyEnvelope, type TrustedKey } from './envelope.js';
import { isDateTime, isUuid } from './format-checks.js';
import { TRANSPORT_TIERS } from './tiers.js';
import { WG_KEY_PATTERN } from './wg-key.js';

export interface SeenCatalog {
  version: number;
  payloadSha256: string;
}

export interface VerifiedCatalog {
  catalog: CatalogPayload;
  seen: SeenCatalog;
}

const WG_KEY = new RegExp(WG_KEY_PATTERN);
const CATALOG_KEYS = ['version', 'issuedAt', 'expiresAt', 'frontDoors'];
const DOOR_KEYS = ['id', 'gatewayId', 'region', 'country', 'tier', 'endpoint', 'publicKey'];

function hasExactly(v: unknown, keys: readonly string[]): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const own = Object.keys(v);
  return own.length === keys.length && keys.every((k) => Object.prototype.hasOwnProperty.call(v, k));
}

const isString = (v: unknown): v is string => typeof v === 'string';

function isFrontDoor(v: unknown): v is FrontDoor {
  return (
    hasExactly(v, DOOR_KEYS) &&
    isString(v.id) &&
    isString(v.gatewayId) && isUuid(v.gatewayId) &&
    isString(v.region) &&
    isString(v.country) &&
    (TRANSPORT_TIERS as readonly unknown[]).includes(v.tier) &&
    isString(v.endpoint) &&
    isString(v.publicKey) && v.publicKey.length === 44 && WG_KEY.test(v.publicKey)
  );
}

/** True when `v` has exactly the shape of `CatalogPayload`. */
export function isCatalogPayload(v: unknown): v is CatalogPayload {
  return (
    hasExactly(v, CATALOG_KEYS) &&
    Number.isInteger(v.version) && (v.version as number) >= 1 &&
    isString(v.issuedAt) && isDateTime(v.issuedAt) &&
    isString(v.expiresAt) && isDateTime(v.expiresAt) &&
    Array.isArray(v.frontDoors) && v.frontDoors.every(isFrontDoor)
  );
}

/**
 * Verifies a signed catalog: signature by a trusted key over the exact bytes,
 * the catalog payload type, a well-formed payload, not expired at `now`, and
 * not older than (or a different document at the same version as) the last
 * catalog this client accepted.
 */
export function verifyCatalog(
  envelope: unknown,
  opts: { trustedKeys: readonly TrustedKey[]; threshold?: number; now: Date; lastSeen?: SeenCatalog | null },
): VerifiedCatalog {
  const { payload } = verifyEnvelope(envelope, PAYLOAD_TYPES.catalog, opts.trustedKeys, opts.threshold ?? 1);
  const catalog = parseVerifiedJson(payload);
  if (!isCatalogPayload(catalog)) {
    throw new DammError('signature_invalid', 'Signed catalog payload does not have the catalog shape.');
  }
  const digest = toHex(sha256(payload));
  if (Date.parse(catalog.expiresAt) <= opts.now.getTime()) {
    throw new DammError('catalog_expired', `Catalog version ${catalog.version} expired at ${catalog.expiresAt}.`);
  }
  const last = opts.lastSeen;
  if (last) {
    if (catalog.version < last.version) {
      throw new DammError('catalog_rollback', `Catalog version ${catalog.version} is older than version ${last.version} already seen.`);
    }
    if (catalog.version === last.version && digest !== last.payloadSha256) {
      throw new DammError('catalog_rollback', `Catalog version ${catalog.version} differs from the one already seen at that version.`);
    }
  }
  return { catalog, seen: { version: catalog.version, payloadSha256: digest } };
}
