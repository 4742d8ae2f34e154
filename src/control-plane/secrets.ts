/**
 * Opaque bearer secrets (install passes, invites, operator tokens, gateway
 * tokens). Each has a prefix naming its kind and 192 random bits; only the
 * SHA-256 hash is ever stored.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** dp install pass or invite, do operator token, dg gateway registration, dgc gateway credential, ds console session. */
export type SecretKind = 'dp' | 'do' | 'dg' | 'dgc' | 'ds';

export function newSecret(kind: SecretKind): string {
  return `${kind}_${randomBytes(24).toString('base64url')}`;
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function sameHash(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
