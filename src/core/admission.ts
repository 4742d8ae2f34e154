/**
 * Admission records: the control plane's signed statement "this WireGuard key
 * may use these tunnel addresses on gateways of this scope, from notBefore
 * until notAfter", and revocations that withdraw one early.
 *
 * Pure: values in, values out; time and trust material are passed in. The
 * gateway calls `verifyAdmission` on every record BEFORE the peer touches its
 * interface; each refusal has a stable `reason`. This is the ONLY admission
 * (and revocation) verifier: the gateway runs it, and the adversarial suite
 * (test/core/trust-adversarial.test.ts) attacks it. Trust is a list of
 * admission keys (`GatewayTrust`): with a pinned root, `admissionTrustFrom`
 * (the admission role's keys valid at that instant, its threshold, and the
 * retired keys that only explain a refusal); without one, the keys the
 * gateway learned at registration (`trustedKeysFrom`).
 *
 * Checks, in order, each naming what it defends against:
 *   1. payload type is the admission/revocation type   (a catalog or other role's signature replayed)
 *   2. signed by a trusted admission key                (forgery; a catalog key cannot sign admissions)
 *   3. the verified bytes are exactly one record        (ambiguous or smuggled fields)
 *   4. the record names this gateway's scope            (a record for another region replayed here)
 *   5. now is inside [notBefore - skew, notAfter)       (replay of an expired record, premature use)
 *   6. the window is not longer than policy allows      (a leaked key minting near-permanent records)
 *   7. addresses are host routes inside the pool        (a peer claiming 0.0.0.0/0 or someone else's subnet)
 *   8. no other key holds any of those addresses        (hijacking another device's traffic)
 */
import { fromBase64, utf8 } from './bytes.js';
import { nobleEd25519, type Ed25519 } from './ed25519.js';
import { keyIdOf, MALFORMED_ENVELOPE, parseVerifiedJson, PAYLOAD_TYPES, signEnvelope, verifyEnvelope, type Envelope, type SigningKey, type TrustedKey } from './envelope.js';
import { DammError } from './errors.js';
import { formatIPv4, formatIPv6, offsetOfIPv4, offsetOfIPv6, parseIPv4, parseIPv6, type ParsedPools } from './ipam.js';
import { isWireGuardKey } from './wg-key.js';
import { MAX_CLOCK_SKEW_MS, parseTimestamp } from './trust/time.js';
import { roleTrustAt, type VerifiedRoot } from './trust/root.js';

/** How long a record is valid; the control plane renews well before the end. */
export const ADMISSION_VALIDITY_SECONDS = 24 * 3600;
/** Gateways refuse records whose window is longer than this, whoever signed them. */
export const MAX_ADMISSION_WINDOW_SECONDS = 7 * 24 * 3600;

export interface AdmissionRecord {
  kind: 'admission';
  deviceId: string;
  publicKey: string;
  /** Exactly one IPv4 /32 and one IPv6 /128 from the tunnel pools. */
  allowedIps: string[];
  scope: string;
  notBefore: string;
  notAfter: string;
}

export interface RevocationRecord {
  kind: 'revocation';
  deviceId: string;
  publicKey: string;
  scope: string;
  revokedAt: string;
}

// ---------------------------------------------------------------------------
// Building and signing (control plane)

export interface AdmittedDevice {
  id: string;
  publicKey: string;
  ipv4: string;
  ipv6: string;
  scope: string;
}

export function admissionRecordFor(device: AdmittedDevice, now: Date, validitySeconds = ADMISSION_VALIDITY_SECONDS): AdmissionRecord {
  return {
    kind: 'admission',
    deviceId: device.id,
    publicKey: device.publicKey,
    allowedIps: [`${device.ipv4}/32`, `${device.ipv6}/128`],
    scope: device.scope,
    notBefore: isoSeconds(now),
    notAfter: isoSeconds(new Date(now.getTime() + validitySeconds * 1000)),
  };
}

export function revocationRecordFor(device: Omit<AdmittedDevice, 'ipv4' | 'ipv6'>, now: Date): RevocationRecord {
  return { kind: 'revocation', deviceId: device.id, publicKey: device.publicKey, scope: device.scope, revokedAt: isoSeconds(now) };
}

/** Whole seconds, "Z": the strict timestamp form core/trust accepts. */
function isoSeconds(d: Date): string {
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Signs the exact JSON bytes of a record with every given key (rotation overlap: old and new). */
export function signRecord(record: AdmissionRecord | RevocationRecord, keys: readonly SigningKey[], ed: Ed25519 = nobleEd25519): Envelope {
  const payloadType = record.kind === 'admission' ? PAYLOAD_TYPES.admission : PAYLOAD_TYPES.revocation;
  const seen = new Set<string>();
  const unique = keys.filter((k) => (seen.has(k.keyid) ? false : (seen.add(k.keyid), true)));
  return signEnvelope(payloadType, utf8.encode(JSON.stringify(record)), unique, ed);
}

// ---------------------------------------------------------------------------
// Verifying (gateway)

export type RefusalReason =
  | 'wrong_payload_type'
  | 'bad_signature'
  | 'malformed'
  | 'wrong_scope'
  | 'not_yet_valid'
  | 'expired'
  | 'window_too_long'
  | 'address_outside_pool'
  | 'address_taken';

export type Verdict<T> = { ok: true; record: T } | { ok: false; reason: RefusalReason; message: string };

export interface GatewayTrust {
  /** This gateway's scope, e.g. "region:NL". */
  scope: string;
  /** The tunnel pools learned at registration. */
  pools: ParsedPools;
  /** Admission keys whose signature counts. */
  trustedKeys: readonly TrustedKey[];
  /** Distinct trusted signatures required (default 1). */
  threshold?: number;
  /** Admission keys outside their validity window now: they never count, they only explain a refusal. */
  retiredKeys?: readonly TrustedKey[];
}

/** The admission keys a verified root certifies at `now` (none once the root expired), as a gateway's trust. */
export function admissionTrustFrom(root: VerifiedRoot, now: Date): Pick<GatewayTrust, 'trustedKeys' | 'threshold' | 'retiredKeys'> {
  return roleTrustAt(root, 'admission', now);
}

export interface VerifyAdmissionOptions {
  /** Which public key currently holds a tunnel address (canonical "ip/len"), if any. */
  addressHolder?: (prefix: string) => string | undefined;
  ed?: Ed25519;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ADMISSION_FIELDS = ['kind', 'deviceId', 'publicKey', 'allowedIps', 'scope', 'notBefore', 'notAfter'];
const REVOCATION_FIELDS = ['kind', 'deviceId', 'publicKey', 'scope', 'revokedAt'];

function refuse<T>(reason: RefusalReason, message: string): Verdict<T> {
  return { ok: false, reason, message };
}

/** Steps 1-3 through core's one envelope opener (envelope.ts), its refusals mapped to this module's reasons. */
function openEnvelope(
  envelope: unknown,
  payloadType: typeof PAYLOAD_TYPES.admission | typeof PAYLOAD_TYPES.revocation,
  trust: GatewayTrust,
  ed: Ed25519,
): { ok: true; value: Record<string, unknown> } | { ok: false; reason: RefusalReason; message: string } {
  let value: unknown;
  try {
    const { payload } = verifyEnvelope(envelope, payloadType, trust.trustedKeys, trust.threshold ?? 1, { ed, ...(trust.retiredKeys ? { retiredKeys: trust.retiredKeys } : {}) });
    value = parseVerifiedJson(payload);
  } catch (err) {
    if (!(err instanceof DammError)) throw err;
    if (err.code === 'payload_type_mismatch') return { ok: false, reason: 'wrong_payload_type', message: err.message };
    const malformed = err.details?.reason === MALFORMED_ENVELOPE;
    return { ok: false, reason: malformed ? 'malformed' : 'bad_signature', message: err.message };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'malformed', message: 'record is not an object' };
  return { ok: true, value: value as Record<string, unknown> };
}

function shapeProblem(v: Record<string, unknown>, fields: readonly string[], kind: string): string | null {
  const keys = Object.keys(v);
  if (keys.length !== fields.length || !fields.every((f) => Object.prototype.hasOwnProperty.call(v, f))) {
    return `record must have exactly the fields ${fields.join(', ')}`;
  }
  if (v.kind !== kind) return `record kind must be "${kind}"`;
  if (typeof v.deviceId !== 'string' || !UUID.test(v.deviceId)) return 'deviceId is not a lowercase UUID';
  if (typeof v.publicKey !== 'string' || !isWireGuardKey(v.publicKey)) return 'publicKey is not a WireGuard public key';
  if (typeof v.scope !== 'string' || v.scope.length === 0 || v.scope.length > 100) return 'scope must be a short non-empty string';
  return null;
}

function timestamp(value: unknown): Date | null {
  try {
    return parseTimestamp(value, 'timestamp', 'record_invalid');
  } catch {
    return null;
  }
}

/** Canonical "ip/len" of a device host route inside the pool, or null. */
export function canonicalPoolAddress(pools: ParsedPools, prefix: unknown): string | null {
  if (typeof prefix !== 'string') return null;
  const slash = prefix.indexOf('/');
  if (slash < 0) return null;
  const ip = prefix.slice(0, slash);
  const len = prefix.slice(slash + 1);
  if (len === '32') {
    const n = parseIPv4(ip);
    return n !== null && offsetOfIPv4(pools, ip) !== null ? `${formatIPv4(n)}/32` : null;
  }
  if (len === '128') {
    const n = parseIPv6(ip);
    return n !== null && offsetOfIPv6(pools, ip) !== null ? `${formatIPv6(n)}/128` : null;
  }
  return null;
}

/**
 * Verifies an admission record for this gateway at `now`. On success the
 * record's allowedIps are in canonical spelling.
 */
export function verifyAdmission(envelope: unknown, trust: GatewayTrust, now: Date, opts: VerifyAdmissionOptions = {}): Verdict<AdmissionRecord> {
  const opened = openEnvelope(envelope, PAYLOAD_TYPES.admission, trust, opts.ed ?? nobleEd25519);
  if (!opened.ok) return opened;
  const v = opened.value;
  const problem = shapeProblem(v, ADMISSION_FIELDS, 'admission');
  if (problem) return refuse('malformed', problem);
  if (v.scope !== trust.scope) return refuse('wrong_scope', `record is for scope ${JSON.stringify(v.scope)}, this gateway serves ${JSON.stringify(trust.scope)}`);
  const notBefore = timestamp(v.notBefore);
  const notAfter = timestamp(v.notAfter);
  if (!notBefore || !notAfter || notAfter.getTime() <= notBefore.getTime()) return refuse('malformed', 'notBefore/notAfter are not an increasing pair of UTC timestamps');
  if (now.getTime() + MAX_CLOCK_SKEW_MS < notBefore.getTime()) return refuse('not_yet_valid', `record is not valid before ${String(v.notBefore)}`);
  if (now.getTime() >= notAfter.getTime()) return refuse('expired', `record expired at ${String(v.notAfter)}`);
  if (notAfter.getTime() - notBefore.getTime() > MAX_ADMISSION_WINDOW_SECONDS * 1000) {
    return refuse('window_too_long', `validity window is longer than ${MAX_ADMISSION_WINDOW_SECONDS} s`);
  }
  if (!Array.isArray(v.allowedIps) || v.allowedIps.length !== 2) return refuse('address_outside_pool', 'allowedIps must be one IPv4 /32 and one IPv6 /128 from the pool');
  const canonical = v.allowedIps.map((p) => canonicalPoolAddress(trust.pools, p));
  const v4 = canonical.filter((p) => p?.endsWith('/32'));
  const v6 = canonical.filter((p) => p?.endsWith('/128'));
  if (canonical.some((p) => p === null) || v4.length !== 1 || v6.length !== 1) {
    return refuse('address_outside_pool', `allowedIps ${JSON.stringify(v.allowedIps).slice(0, 120)} are not one IPv4 /32 and one IPv6 /128 inside the device pool`);
  }
  const allowedIps = [v4[0]!, v6[0]!];
  for (const p of allowedIps) {
    const holder = opts.addressHolder?.(p);
    if (holder !== undefined && holder !== v.publicKey) return refuse('address_taken', `${p} is held by another key (${holder.slice(0, 8)}…)`);
  }
  return { ok: true, record: { ...(v as unknown as AdmissionRecord), allowedIps } };
}

export function verifyRevocation(envelope: unknown, trust: GatewayTrust, opts: { ed?: Ed25519 } = {}): Verdict<RevocationRecord> {
  const opened = openEnvelope(envelope, PAYLOAD_TYPES.revocation, trust, opts.ed ?? nobleEd25519);
  if (!opened.ok) return opened;
  const v = opened.value;
  const problem = shapeProblem(v, REVOCATION_FIELDS, 'revocation');
  if (problem) return refuse('malformed', problem);
  if (v.scope !== trust.scope) return refuse('wrong_scope', `revocation is for scope ${JSON.stringify(v.scope)}, this gateway serves ${JSON.stringify(trust.scope)}`);
  // A revocation takes effect whenever it arrives: revoking early is never unsafe.
  if (!timestamp(v.revokedAt)) return refuse('malformed', 'revokedAt is not a UTC timestamp');
  return { ok: true, record: v as unknown as RevocationRecord };
}

/** Trusted keys from the published form ({keyid, publicKey base64}); keys whose id does not match their bytes are dropped. */
export function trustedKeysFrom(published: readonly { keyid: string; publicKey: string }[]): TrustedKey[] {
  const out: TrustedKey[] = [];
  for (const k of published) {
    const bytes = fromBase64(k.publicKey);
    if (bytes && bytes.length === 32 && keyIdOf(bytes) === k.keyid) out.push({ keyid: k.keyid, publicKey: bytes });
  }
  return out;
}
