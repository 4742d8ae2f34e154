/**
 * Key spellings at the WireGuard edge: base64 in DAMM, hex on the UAPI wire.
 * Secrets (private and preshared keys) are converted here and never logged;
 * read-backs report a digest of a preshared key, never the key.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { fromBase64, toBase64, toHex } from '../../core/bytes.js';
import { DammError } from '../../core/errors.js';
import { parseWireGuardPublicKey } from '../../core/wg-key.js';

const KEY_LEN = 32;
const HEX_KEY = /^[0-9a-f]{64}$/;
// PKCS#8 DER header for a raw X25519 private key (RFC 8410).
const X25519_PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);

/** 32 raw bytes of a secret key given in base64. `what` names the field in the error, never the value. */
export function parseSecretKey(text: string, what: string, opts: { allowZero?: boolean } = {}): Uint8Array {
  const bytes = typeof text === 'string' && text.length === 44 ? fromBase64(text) : null;
  if (!bytes || bytes.length !== KEY_LEN) {
    throw new DammError('invalid_argument', `${what} must be a WireGuard key: 32 bytes in standard base64.`);
  }
  if (!opts.allowZero && bytes.every((b) => b === 0)) {
    throw new DammError('invalid_argument', `${what} is the all-zero key.`);
  }
  return bytes;
}

export function publicKeyToHex(base64: string): string {
  return toHex(parseWireGuardPublicKey(base64));
}

export function secretKeyToHex(base64: string, what: string, opts: { allowZero?: boolean } = {}): string {
  return toHex(parseSecretKey(base64, what, opts));
}

export function hexToBytes(hex: string): Uint8Array | null {
  if (!HEX_KEY.test(hex)) return null;
  const out = new Uint8Array(KEY_LEN);
  for (let i = 0; i < KEY_LEN; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function hexToBase64(hex: string): string | null {
  const bytes = hexToBytes(hex);
  return bytes ? toBase64(bytes) : null;
}

/** X25519 public key of a raw private key (clamping is part of X25519). */
export function publicKeyFromPrivate(privateKey: Uint8Array): string {
  const der = Buffer.concat([X25519_PKCS8_PREFIX, privateKey]);
  const spki = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  return toBase64(new Uint8Array(spki.subarray(spki.length - KEY_LEN)));
}

/**
 * A fresh X25519 key pair in base64, clamped as `wg genkey` clamps it.
 *
 * Not `generateKeyPairSync('x25519')` + JWK export: on Node 20 a garbage
 * collection during that export can run the finished key-generation job's
 * destructor, which takes the mutex the export already holds, and the
 * process deadlocks (main thread in futex wait, no timer ever fires). The
 * e2e burst test hung that way after 20 invites; a bare loop of keygen +
 * JWK export hangs within seconds. Random bytes have no such job.
 */
export function generateWireGuardKeyPair(): { privateKey: string; publicKey: string } {
  const secret = new Uint8Array(randomBytes(KEY_LEN));
  secret[0]! &= 248;
  secret[31] = (secret[31]! & 127) | 64;
  return { privateKey: toBase64(secret), publicKey: publicKeyFromPrivate(secret) };
}

/**
 * Digest standing in for a preshared key in read-backs, so state can be
 * compared and logged without carrying the secret. Undefined for "no key"
 * (WireGuard spells that as 32 zero bytes).
 */
export function presharedKeyDigest(key: Uint8Array): string | undefined {
  if (key.every((b) => b === 0)) return undefined;
  return createHash('sha256').update('damm-wg-psk-digest\0').update(key).digest('hex').slice(0, 32);
}
