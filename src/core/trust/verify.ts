/**
 * Verifying online-signed documents (catalog, admission, revocation) against
 * a verified root. Order of checks, each naming what it defends against:
 *   1. the root itself is not expired                 (freeze attack on the anchor)
 *   2. payload type matches                           (cross-role replay)
 *   3. a threshold of the role's keys valid at `now`  (forgery, leaked retired key)
 *   4. the verified bytes parse as one JSON document  (trailing garbage, oversize)
 *   5. shape, then time and version rules             (skew, rollback, equivocation, expiry)
 *
 * Pure: values in, values out, `now` injected.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8 } from '../bytes.js';
import { parseVerifiedJson, PAYLOAD_TYPES, signEnvelope, type Envelope, type SigningKey } from '../envelope.js';
import { DammError } from '../errors.js';
import { isWireGuardKey } from '../wg-key.js';
import { assertRootFresh, verifyRoleSignatures, type VerifiedRoot } from './root.js';
import type { AdmissionRecord, RevocationRecord } from '../admission.js';
import { checkNow, MAX_CLOCK_SKEW_MS, parseTimestamp, withinWindow } from './time.js';

/** Upper bound on the catalog grace period a client may configure. */
export const MAX_CATALOG_GRACE_SECONDS = 7 * 24 * 3600;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function recordInvalid(message: string, reason = 'malformed'): DammError {
  return new DammError('record_invalid', message, { details: { reason } });
}

function exactKeys(obj: Record<string, unknown>, keys: readonly string[], where: string): void {
  for (const k of keys) {
    if (!Object.prototype.hasOwnProperty.call(obj, k)) throw recordInvalid(`${where} is missing "${k}".`);
  }
  for (const k of Object.keys(obj)) {
    if (!keys.includes(k)) throw recordInvalid(`${where} has an unknown field "${k.slice(0, 40)}".`);
  }
}

function assertNotFromFuture(issued: Date, now: Date, what: string): void {
  if (issued.getTime() > now.getTime() + MAX_CLOCK_SKEW_MS) {
    throw recordInvalid(`${what} is dated ${issued.toISOString()}, more than the allowed clock skew after this clock (${now.toISOString()}).`, 'issued_in_future');
  }
}

// ---------------------------------------------------------------------------
// Catalog

export interface CatalogBody<F = unknown> {
  version: number;
  issuedAt: string;
  expiresAt: string;
  frontDoors: F[];
}

export interface LastSeenCatalog {
  version: number;
  payloadSha256: string;
}

export interface VerifyCatalogOptions<F> {
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
  /** Hook for the catalog module: validate front doors deeply; throw DammError('record_invalid') to refuse. */
  validateFrontDoors?: (frontDoors: unknown[]) => F[];
}

export interface RootVerifiedCatalog<F = unknown> {
  catalog: CatalogBody<F>;
  version: number;
  payloadSha256: string;
  issuedAt: Date;
  expiresAt: Date;
  /** True when accepted only thanks to the grace period. */
  stale: boolean;
  signers: string[];
}

function checkLastSeen(v: unknown): LastSeenCatalog | null {
  if (v === undefined || v === null) return null;
  if (
    !isPlainObject(v) ||
    typeof v.version !== 'number' ||
    !Number.isSafeInteger(v.version) ||
    v.version < 1 ||
    typeof v.payloadSha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(v.payloadSha256)
  ) {
    throw new DammError('invalid_argument', 'lastSeen must be { version: positive integer, payloadSha256: 64 hex }.');
  }
  return { version: v.version, payloadSha256: v.payloadSha256 };
}

export function verifyCatalogWithRoot<F = unknown>(
  envelope: unknown,
  root: VerifiedRoot,
  opts: VerifyCatalogOptions<F>,
): RootVerifiedCatalog<F> {
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

  if (!isPlainObject(value)) throw recordInvalid('Catalog is not a JSON object.');
  exactKeys(value, ['version', 'issuedAt', 'expiresAt', 'frontDoors'], 'Catalog');
  const version = value.version;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw recordInvalid('Catalog version must be a positive integer.');
  }
  const issuedAt = parseTimestamp(value.issuedAt, 'Catalog issuedAt', 'record_invalid');
  const expiresAt = parseTimestamp(value.expiresAt, 'Catalog expiresAt', 'record_invalid');
  if (expiresAt.getTime() <= issuedAt.getTime()) throw recordInvalid('Catalog expiresAt must be after issuedAt.');
  if (!Array.isArray(value.frontDoors)) throw recordInvalid('Catalog frontDoors must be an array.');

  // Clock skew: issuedAt may be up to MAX_CLOCK_SKEW ahead of this clock.
  assertNotFromFuture(issuedAt, now, 'Catalog');

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
      throw new DammError('catalog_expired', `Catalog version ${version} expired at ${value.expiresAt as string}.`, {
        details: { version, expiresAt: value.expiresAt },
      });
    }
  }

  const frontDoors = opts.validateFrontDoors ? opts.validateFrontDoors(value.frontDoors) : (value.frontDoors as F[]);
  return {
    catalog: { version, issuedAt: value.issuedAt as string, expiresAt: value.expiresAt as string, frontDoors },
    version,
    payloadSha256,
    issuedAt,
    expiresAt,
    stale,
    signers,
  };
}

// ---------------------------------------------------------------------------
// Admission and revocation records (signed by the admission role)

// The record shapes are core/admission.ts's: one definition for signer and verifiers.
export type { AdmissionRecord, RevocationRecord } from '../admission.js';

export interface VerifyRecordOptions {
  now: Date;
  /** The scope this verifier serves (e.g. the deployment or gateway pool); the record must name it. */
  scope: string;
}

export interface VerifiedAdmission {
  record: AdmissionRecord;
  payloadSha256: string;
  signers: string[];
  notBefore: Date;
  notAfter: Date;
}

export interface VerifiedRevocation {
  record: RevocationRecord;
  payloadSha256: string;
  signers: string[];
  revokedAt: Date;
}

const DEVICE_ID = /^[\x21-\x7e]{1,128}$/;
const CIDR = /^(?:\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]{2,39}\/\d{1,3})$/;
const MAX_ALLOWED_IPS = 16;

function checkCommon(v: Record<string, unknown>, scope: string, what: string): void {
  if (typeof v.deviceId !== 'string' || !DEVICE_ID.test(v.deviceId)) throw recordInvalid(`${what} deviceId must be 1-128 printable characters.`);
  if (typeof v.publicKey !== 'string' || !isWireGuardKey(v.publicKey)) throw recordInvalid(`${what} publicKey is not a WireGuard public key.`);
  if (typeof v.scope !== 'string' || v.scope.length === 0) throw recordInvalid(`${what} scope must be a non-empty string.`);
  if (v.scope !== scope) {
    throw recordInvalid(`${what} is for scope "${v.scope.slice(0, 64)}", not "${scope.slice(0, 64)}".`, 'scope_mismatch');
  }
}

function checkScopeOption(opts: VerifyRecordOptions): { now: Date; scope: string } {
  const now = checkNow(opts.now);
  if (typeof opts.scope !== 'string' || opts.scope.length === 0) throw new DammError('invalid_argument', 'scope must be a non-empty string.');
  return { now, scope: opts.scope };
}

/** Signature, role, type, key-window and record-window checks; the gateway does the pool checks. */
export function verifyAdmissionWithRoot(envelope: unknown, root: VerifiedRoot, opts: VerifyRecordOptions): VerifiedAdmission {
  const { now, scope } = checkScopeOption(opts);
  assertRootFresh(root, now);
  const { payload, signers } = verifyRoleSignatures(envelope, root, 'admission', PAYLOAD_TYPES.admission, now);
  const v = parseVerifiedJson(payload);
  if (!isPlainObject(v)) throw recordInvalid('Admission record is not a JSON object.');
  exactKeys(v, ['kind', 'deviceId', 'publicKey', 'allowedIps', 'scope', 'notBefore', 'notAfter'], 'Admission record');
  if (v.kind !== 'admission') throw recordInvalid('Admission record kind must be "admission".');
  checkCommon(v, scope, 'Admission record');
  if (
    !Array.isArray(v.allowedIps) ||
    v.allowedIps.length < 1 ||
    v.allowedIps.length > MAX_ALLOWED_IPS ||
    !v.allowedIps.every((ip) => typeof ip === 'string' && CIDR.test(ip))
  ) {
    throw recordInvalid(`Admission record allowedIps must be 1-${MAX_ALLOWED_IPS} CIDR strings.`);
  }
  const notBefore = parseTimestamp(v.notBefore, 'Admission notBefore', 'record_invalid');
  const notAfter = parseTimestamp(v.notAfter, 'Admission notAfter', 'record_invalid');
  if (notAfter.getTime() <= notBefore.getTime()) throw recordInvalid('Admission notAfter must be after notBefore.');
  if (!withinWindow(now, notBefore, notAfter)) {
    const expired = now.getTime() >= notAfter.getTime();
    throw recordInvalid(
      expired ? `Admission for ${v.deviceId as string} expired at ${v.notAfter as string}.` : `Admission for ${v.deviceId as string} is not valid before ${v.notBefore as string}.`,
      expired ? 'admission_expired' : 'admission_not_yet_valid',
    );
  }
  return {
    record: v as unknown as AdmissionRecord,
    payloadSha256: toHex(sha256(payload)),
    signers,
    notBefore,
    notAfter,
  };
}

export function verifyRevocationWithRoot(envelope: unknown, root: VerifiedRoot, opts: VerifyRecordOptions): VerifiedRevocation {
  const { now, scope } = checkScopeOption(opts);
  assertRootFresh(root, now);
  const { payload, signers } = verifyRoleSignatures(envelope, root, 'admission', PAYLOAD_TYPES.revocation, now);
  const v = parseVerifiedJson(payload);
  if (!isPlainObject(v)) throw recordInvalid('Revocation record is not a JSON object.');
  exactKeys(v, ['kind', 'deviceId', 'publicKey', 'scope', 'revokedAt'], 'Revocation record');
  if (v.kind !== 'revocation') throw recordInvalid('Revocation record kind must be "revocation".');
  checkCommon(v, scope, 'Revocation record');
  // A revocation dated in the future still takes effect now: revoking early is never unsafe.
  const revokedAt = parseTimestamp(v.revokedAt, 'Revocation revokedAt', 'record_invalid');
  return { record: v as unknown as RevocationRecord, payloadSha256: toHex(sha256(payload)), signers, revokedAt };
}

// ---------------------------------------------------------------------------
// Producing (control plane side). During a rotation overlap pass both the old
// and the new online keys so every client, whichever root it holds, accepts.
// Catalogs are signed by core/catalog.ts `signCatalog` (same bytes: JSON.stringify).

function signJson(type: (typeof PAYLOAD_TYPES)[keyof typeof PAYLOAD_TYPES], value: unknown, keys: readonly SigningKey[]): Envelope {
  const seen = new Set<string>();
  const unique = keys.filter((k) => (seen.has(k.keyid) ? false : (seen.add(k.keyid), true)));
  return signEnvelope(type, utf8.encode(JSON.stringify(value)), unique);
}

export function signAdmission(record: AdmissionRecord, keys: readonly SigningKey[]): Envelope {
  return signJson(PAYLOAD_TYPES.admission, record, keys);
}

export function signRevocation(record: RevocationRecord, keys: readonly SigningKey[]): Envelope {
  return signJson(PAYLOAD_TYPES.revocation, record, keys);
}
