/**
 * The catalog of front doors: built and signed by the control plane,
 * verified by every client with `verifyCatalog` before any field is used.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { CatalogPayload, FrontDoor } from './api-schemas.js';
import { PAYLOAD_TYPES, signEnvelope, type Envelope, type SigningKey } from './envelope.js';
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

// Verification lives in catalog-verify.ts (no TypeBox) so the browser wizard runs the same function.
export { isCatalogPayload, verifyCatalog, type SeenCatalog, type VerifiedCatalog } from './catalog-verify.js';
