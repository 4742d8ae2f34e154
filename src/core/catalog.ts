/**
 * The catalog of front doors: built and signed by the control plane,
 * verified by every client with `verifyCatalog` before any field is used.
 */
import { Value } from '@sinclair/typebox/value';
import './formats.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CatalogPayload, type FrontDoor } from './api-schemas.js';
import { DammError } from './errors.js';
import { PAYLOAD_TYPES, parseVerifiedJson, signEnvelope, verifyEnvelope, type Envelope, type SigningKey, type TrustedKey } from './envelope.js';
import { toHex, utf8 } from './bytes.js';

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

export interface SeenCatalog {
  version: number;
  payloadSha256: string;
}

export interface VerifiedCatalog {
  catalog: CatalogPayload;
  seen: SeenCatalog;
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
  const parsed = parseVerifiedJson(payload);
  if (!Value.Check(CatalogPayload, parsed)) {
    throw new DammError('signature_invalid', 'Signed catalog payload does not have the catalog shape.');
  }
  const catalog = parsed;
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
