/**
 * Sealing a proxy credential (Shadowsocks secret, VLESS UUID) to one door of
 * one gateway, so the control plane can store and relay it without ever
 * being able to read it (issue 12, point 4; DESIGN.md principle 7).
 *
 * The construction is HPKE (RFC 9180) in base mode, single-shot, with the
 * suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305, written
 * here on the @noble primitives the wizard already ships (plus
 * @noble/ciphers for the AEAD) rather than taken from an HPKE library: the
 * suite is ~60 lines, the RFC's own test vector (A.2.1) pins it byte for
 * byte, and the wizard's 60 KB gzipped budget has no room for a library that
 * carries every suite. HPKE binds what the request asked for: the KEM
 * context is the ephemeral and the recipient public keys, and the `info`
 * input names DAMM, the format version, the gateway id and the door id, so a
 * credential sealed for one door cannot be replayed into another door or
 * another gateway.
 *
 * Wire format: `enc (32 bytes, the ephemeral X25519 public key) || ciphertext
 * (plaintext length + 16-byte tag)`. Pure: no I/O, browser-safe.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { extract, expand } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { DammError } from './errors.js';
import { concatBytes, utf8 } from './bytes.js';

/** Which door a sealed credential belongs to; both ids go into HPKE's `info`. */
export interface SealContext {
  gatewayId: string;
  doorId: string;
}

export const SEAL_ENC_LENGTH = 32;
export const SEAL_TAG_LENGTH = 16;
/** Credentials are short (a 32-byte key, a UUID); anything larger is a mistake. */
export const SEAL_MAX_PLAINTEXT = 1024;
const LABEL = 'DAMM sealed proxy credential v1';

const KEM_ID = 0x0020; // DHKEM(X25519, HKDF-SHA256)
const KDF_ID = 0x0001; // HKDF-SHA256
const AEAD_ID = 0x0003; // ChaCha20Poly1305
const KEM_SUITE = concatBytes(utf8.encode('KEM'), i2osp(KEM_ID, 2));
const HPKE_SUITE = concatBytes(utf8.encode('HPKE'), i2osp(KEM_ID, 2), i2osp(KDF_ID, 2), i2osp(AEAD_ID, 2));
const HPKE_V1 = utf8.encode('HPKE-v1');
const EMPTY = new Uint8Array(0);

function i2osp(n: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1, v = n; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v & 0xff;
  return out;
}

function labeledExtract(suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  return extract(sha256, concatBytes(HPKE_V1, suite, utf8.encode(label), ikm), salt);
}

function labeledExpand(suite: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
  return expand(sha256, prk, concatBytes(i2osp(length, 2), HPKE_V1, suite, utf8.encode(label), info), length);
}

/** The `info` bytes: label, then each id length-prefixed so no two contexts collide. */
export function sealInfo(context: SealContext): Uint8Array {
  const parts: Uint8Array[] = [utf8.encode(LABEL)];
  for (const [name, value] of [['gatewayId', context.gatewayId], ['doorId', context.doorId]] as const) {
    if (typeof value !== 'string' || value.length === 0 || value.length > 200) {
      throw new DammError('invalid_argument', `Seal context ${name} must be a non-empty string of at most 200 characters.`);
    }
    const bytes = utf8.encode(value);
    parts.push(i2osp(bytes.length, 2), bytes);
  }
  return concatBytes(...parts);
}

function checkKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new DammError('invalid_argument', `${what} must be 32 bytes (an X25519 key).`);
  }
}

/** X25519 with the all-zero output (a low-order public key) refused, as RFC 9180 §7.1.4 requires. */
function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(privateKey, publicKey);
  } catch (cause) {
    throw new DammError('invalid_public_key', 'The X25519 public key is not usable (low order).', { cause });
  }
  if (shared.every((b) => b === 0)) throw new DammError('invalid_public_key', 'The X25519 public key is not usable (low order).');
  return shared;
}

function keySchedule(dhOut: Uint8Array, enc: Uint8Array, recipientPublic: Uint8Array, info: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  // DHKEM ExtractAndExpand: the KEM context binds both public keys.
  const eaePrk = labeledExtract(KEM_SUITE, EMPTY, 'eae_prk', dhOut);
  const sharedSecret = labeledExpand(KEM_SUITE, eaePrk, 'shared_secret', concatBytes(enc, recipientPublic), 32);
  // KeySchedule, mode_base (0x00), empty PSK.
  const pskIdHash = labeledExtract(HPKE_SUITE, EMPTY, 'psk_id_hash', EMPTY);
  const infoHash = labeledExtract(HPKE_SUITE, EMPTY, 'info_hash', info);
  const ksContext = concatBytes(new Uint8Array([0x00]), pskIdHash, infoHash);
  const secret = labeledExtract(HPKE_SUITE, sharedSecret, 'secret', EMPTY);
  return {
    key: labeledExpand(HPKE_SUITE, secret, 'key', ksContext, 32),
    // Single-shot: sequence number 0, so the nonce is base_nonce itself.
    nonce: labeledExpand(HPKE_SUITE, secret, 'base_nonce', ksContext, 12),
  };
}

/**
 * HPKE SealBase with a given ephemeral private key. Exported for the RFC
 * known-answer test only: production calls `seal`, which draws a fresh one.
 */
export function sealWithEphemeral(
  ephemeralPrivate: Uint8Array,
  recipientPublic: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  checkKey(ephemeralPrivate, 'The ephemeral private key');
  checkKey(recipientPublic, 'The recipient public key');
  const enc = x25519.getPublicKey(ephemeralPrivate);
  const { key, nonce } = keySchedule(dh(ephemeralPrivate, recipientPublic), enc, recipientPublic, info);
  return concatBytes(enc, chacha20poly1305(key, nonce, aad).encrypt(plaintext));
}

/** HPKE OpenBase of `enc || ciphertext`. Any failure is `record_invalid`, with no hint which part was wrong. */
export function openWithInfo(recipientPrivate: Uint8Array, sealed: Uint8Array, info: Uint8Array, aad: Uint8Array): Uint8Array {
  checkKey(recipientPrivate, 'The recipient private key');
  if (!(sealed instanceof Uint8Array) || sealed.length < SEAL_ENC_LENGTH + SEAL_TAG_LENGTH) {
    throw new DammError('record_invalid', 'The sealed credential is too short to be one.');
  }
  const enc = sealed.subarray(0, SEAL_ENC_LENGTH);
  const recipientPublic = x25519.getPublicKey(recipientPrivate);
  try {
    const { key, nonce } = keySchedule(dh(recipientPrivate, enc), enc, recipientPublic, info);
    return chacha20poly1305(key, nonce, aad).decrypt(sealed.subarray(SEAL_ENC_LENGTH));
  } catch (cause) {
    throw new DammError('record_invalid', 'The sealed credential does not open with this key for this gateway and door.', { cause });
  }
}

/** Seal `plaintext` to a gateway's X25519 sealing public key, for one door. */
export function seal(recipientPublic: Uint8Array, plaintext: Uint8Array, context: SealContext): Uint8Array {
  if (!(plaintext instanceof Uint8Array) || plaintext.length === 0 || plaintext.length > SEAL_MAX_PLAINTEXT) {
    throw new DammError('invalid_argument', `A sealed credential holds 1 to ${SEAL_MAX_PLAINTEXT} bytes.`);
  }
  return sealWithEphemeral(x25519.utils.randomSecretKey(), recipientPublic, sealInfo(context), EMPTY, plaintext);
}

/** Open a credential sealed by `seal` for the same gateway and door. */
export function open(recipientPrivate: Uint8Array, sealed: Uint8Array, context: SealContext): Uint8Array {
  return openWithInfo(recipientPrivate, sealed, sealInfo(context), EMPTY);
}

/** A fresh X25519 sealing key pair (the gateway makes one and publishes the public half in the catalog). */
export function sealingKeyPair(): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const privateKey = x25519.utils.randomSecretKey();
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}
