/**
 * The one Ed25519 port. Core signs and verifies through this interface only,
 * so Node processes can inject native crypto (src/platform/node-ed25519.ts,
 * ~15x faster) while the browser wizard and tests use the pure-JS default.
 */
import { ed25519 } from '@noble/curves/ed25519.js';

export interface Ed25519 {
  sign(message: Uint8Array, seed: Uint8Array): Uint8Array;
  /** Never throws: a malformed key or signature is simply not valid. */
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}

export const nobleEd25519: Ed25519 = {
  sign: (message, seed) => ed25519.sign(message, seed),
  verify: (signature, message, publicKey) => {
    try {
      return ed25519.verify(signature, message, publicKey);
    } catch {
      return false;
    }
  },
};

/** A fresh 32-byte seed and its public key. */
export function randomSeed(): Uint8Array {
  return ed25519.utils.randomSecretKey();
}

export function publicKeyOf(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}
