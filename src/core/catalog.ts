/**
 * The catalog of front doors: built and signed by the control plane, and
 * verified by every client (the CLI, the browser wizard, tests) with the one
 * catalog verifier here, `verifyCatalog`, before any field is used. A device
 * config takes its endpoint and gateway key only from a door of a catalog
 * that passed this function (core/door-binding.ts).
 *
 * The catalog's shape is api-schemas' `CatalogPayload` (types, OpenAPI).
 * `isCatalogPayload` checks exactly that schema without TypeBox, so the same
 * function runs on the server and in the browser wizard (where TypeBox would
 * cost ~28 KB of the wizard's 60 KB gzipped budget); a test compares it with
 * TypeBox's Value.Check over mutations of a valid catalog, so the two cannot
 * drift apart unnoticed.
 *
 * Order of checks in `verifyCatalog`, each naming what it defends against:
 *   1. the root itself is not expired                 (freeze attack on the anchor)
 *   2. payload type matches                           (cross-role replay)
 *   3. a threshold of catalog keys valid at `now`     (forgery, leaked retired key)
 *   4. the verified bytes parse as one JSON document  (trailing garbage, oversize)
 *   5. exactly the catalog shape                      (smuggled or missing fields)
 *   6. time and version rules                         (skew, rollback, equivocation, expiry)
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { AwgParams, CatalogPayload, FrontDoor } from './api-schemas.js';
import { AWG_HEADER_PATTERN, DOOR_PROTOCOLS } from './doors.js';
import { toHex, utf8 } from './bytes.js';
import { DammError } from './errors.js';
import { parseVerifiedJson, PAYLOAD_TYPES, signEnvelope, type Envelope, type SigningKey } from './envelope.js';
import { isDateTime, isUuid } from './format-checks.js';
import { TRANSPORT_TIERS } from './tiers.js';
import { assertRootFresh, verifyRoleSignatures, type VerifiedRoot } from './trust/root.js';
import { checkNow, MAX_CLOCK_SKEW_MS, parseTimestamp } from './trust/time.js';
import { WG_KEY_PATTERN } from './wg-key.js';

export function encodeCatalog(payload: CatalogPayload): Uint8Array {
  return utf8.encode(JSON.stringify(payload));
}

export function signCatalog(payload: CatalogPayload, keys: SigningKey[]): Envelope {
  return signEnvelope(PAYLOAD_TYPES.catalog, encodeCatalog(payload), keys);
}

/** Stable digest of the set of front doors, to tell whether a new version is due. */
export function frontDoorsDigest(doors: FrontDoor[]): string {
  const sorted = [...doors].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return toHex(sha256(utf8.encode(JSON.stringify(sorted))));
}

// ---------------------------------------------------------------------------
// Shape (exactly api-schemas' CatalogPayload)

const WG_KEY = new RegExp(WG_KEY_PATTERN);
const CATALOG_KEYS = ['version', 'issuedAt', 'expiresAt', 'frontDoors'];
const DOOR_KEYS = ['id', 'gatewayId', 'region', 'country', 'tier', 'endpoint', 'publicKey', 'protocol', 'params', 'tunnel'];
const AWG_INTEGER_KEYS = ['jc', 'jmin', 'jmax', 's1', 's2', 's3', 's4'] as const;
const AWG_HEADER_KEYS = ['h1', 'h2', 'h3', 'h4'] as const;
const AWG_KEYS = [...AWG_INTEGER_KEYS, ...AWG_HEADER_KEYS, 'i1'];
const AWG_HEADER = new RegExp(AWG_HEADER_PATTERN);
const TUNNEL_KEYS = ['ipv4Cidr', 'ipv6Prefix'];

function hasExactly(v: unknown, keys: readonly string[]): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const own = Object.keys(v);
  return own.length === keys.length && keys.every((k) => Object.prototype.hasOwnProperty.call(v, k));
}

const isString = (v: unknown): v is string => typeof v === 'string';

/** Exactly api-schemas' AwgParams (shape only; the ranges are core/amneziawg.ts's). */
export function isAwgParams(v: unknown): v is AwgParams {
  return (
    hasExactly(v, AWG_KEYS) &&
    AWG_INTEGER_KEYS.every((k) => Number.isInteger(v[k])) &&
    AWG_HEADER_KEYS.every((k) => isString(v[k]) && AWG_HEADER.test(v[k])) &&
    (v.i1 === null || (isString(v.i1) && v.i1.length <= 256))
  );
}

function isFrontDoor(v: unknown): v is FrontDoor {
  return (
    hasExactly(v, DOOR_KEYS) &&
    isString(v.id) &&
    isString(v.gatewayId) && isUuid(v.gatewayId) &&
    isString(v.region) &&
    isString(v.country) &&
    (TRANSPORT_TIERS as readonly unknown[]).includes(v.tier) &&
    isString(v.endpoint) &&
    isString(v.publicKey) && v.publicKey.length === 44 && WG_KEY.test(v.publicKey) &&
    (DOOR_PROTOCOLS as readonly unknown[]).includes(v.protocol) &&
    (v.params === null || isAwgParams(v.params)) &&
    hasExactly(v.tunnel, TUNNEL_KEYS) && isString(v.tunnel.ipv4Cidr) && isString(v.tunnel.ipv6Prefix)
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

// ---------------------------------------------------------------------------
// Verification

/** Upper bound on the catalog grace period a client may configure. */
export const MAX_CATALOG_GRACE_SECONDS = 7 * 24 * 3600;

export interface LastSeenCatalog {
  version: number;
  payloadSha256: string;
}

export interface VerifyCatalogOptions {
  now: Date;
  /** What this client accepted last (persisted); omitted or null after a reset. */
  lastSeen?: LastSeenCatalog | null;
  /**
   * Seconds past expiresAt during which the catalog is still returned, flagged
   * `stale: true` (default 0, at most MAX_CATALOG_GRACE_SECONDS). Lets a
   * client keep its front doors while the signer is unreachable; callers
   * should surface staleness and keep trying to refresh.
   */
  graceSeconds?: number;
}

export interface VerifiedCatalog {
  catalog: CatalogPayload;
  version: number;
  payloadSha256: string;
  issuedAt: Date;
  expiresAt: Date;
  /** True when accepted only thanks to the grace period. */
  stale: boolean;
  signers: string[];
}

function recordInvalid(message: string, reason = 'malformed'): DammError {
  return new DammError('record_invalid', message, { details: { reason } });
}

function checkLastSeen(v: unknown): LastSeenCatalog | null {
  if (v === undefined || v === null) return null;
  const o = v as Record<string, unknown>;
  if (
    typeof v !== 'object' ||
    typeof o.version !== 'number' ||
    !Number.isSafeInteger(o.version) ||
    o.version < 1 ||
    typeof o.payloadSha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(o.payloadSha256)
  ) {
    throw new DammError('invalid_argument', 'lastSeen must be { version: positive integer, payloadSha256: 64 hex }.');
  }
  return { version: o.version, payloadSha256: o.payloadSha256 };
}

/** The one catalog verifier: a signed catalog against a verified root at `now`. */
export function verifyCatalog(envelope: unknown, root: VerifiedRoot, opts: VerifyCatalogOptions): VerifiedCatalog {
  const now = checkNow(opts.now);
  const lastSeen = checkLastSeen(opts.lastSeen);
  const grace = opts.graceSeconds ?? 0;
  if (typeof grace !== 'number' || !Number.isFinite(grace) || grace < 0 || grace > MAX_CATALOG_GRACE_SECONDS) {
    throw new DammError('invalid_argument', `graceSeconds must be between 0 and ${MAX_CATALOG_GRACE_SECONDS}.`);
  }
  assertRootFresh(root, now);
  const { payload, signers } = verifyRoleSignatures(envelope, root, 'catalog', PAYLOAD_TYPES.catalog, now);
  const payloadSha256 = toHex(sha256(payload));
  const value = parseVerifiedJson(payload);
  if (!isCatalogPayload(value)) throw recordInvalid('Signed catalog payload does not have the catalog shape.');
  const { version } = value;
  if (!Number.isSafeInteger(version)) throw recordInvalid('Catalog version must be a safe integer.');
  const issuedAt = parseTimestamp(value.issuedAt, 'Catalog issuedAt', 'record_invalid');
  const expiresAt = parseTimestamp(value.expiresAt, 'Catalog expiresAt', 'record_invalid');
  if (expiresAt.getTime() <= issuedAt.getTime()) throw recordInvalid('Catalog expiresAt must be after issuedAt.');

  // Clock skew: issuedAt may be up to MAX_CLOCK_SKEW ahead of this clock.
  if (issuedAt.getTime() > now.getTime() + MAX_CLOCK_SKEW_MS) {
    throw recordInvalid(`Catalog is dated ${issuedAt.toISOString()}, more than the allowed clock skew after this clock (${now.toISOString()}).`, 'issued_in_future');
  }

  // Rollback (TUF 5.4.3-style): never go below what this client already accepted;
  // the same version must be the same bytes (a signer equivocating, or a replay).
  if (lastSeen) {
    if (version < lastSeen.version) {
      throw new DammError('catalog_rollback', `Catalog version ${version} is older than version ${lastSeen.version} already seen.`, {
        details: { reason: 'rollback', version, lastSeenVersion: lastSeen.version },
      });
    }
    if (version === lastSeen.version && payloadSha256 !== lastSeen.payloadSha256) {
      throw new DammError('catalog_rollback', `Two different catalogs claim version ${version}.`, {
        details: { reason: 'equivocation', version },
      });
    }
  }

  // Expiry (freeze attack): no skew allowance; an optional, flagged grace period.
  let stale = false;
  if (now.getTime() >= expiresAt.getTime()) {
    if (now.getTime() < expiresAt.getTime() + grace * 1000) {
      stale = true;
    } else {
      throw new DammError('catalog_expired', `Catalog version ${version} expired at ${value.expiresAt}.`, {
        details: { version, expiresAt: value.expiresAt },
      });
    }
  }
  return { catalog: value, version, payloadSha256, issuedAt, expiresAt, stale, signers };
}
