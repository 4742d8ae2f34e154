/**
 * The device's WireGuard key pair, made in this page and kept only in this
 * page's memory. WebCrypto X25519 where the browser has it (Chromium exports
 * X25519 private keys as pkcs8 only: the raw key is its last 32 bytes);
 * otherwise @noble/curves with bytes from crypto.getRandomValues, which also
 * exists on plain-http origins where crypto.subtle does not.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { bytesEqual, toBase64 } from '../core/bytes.js';

export interface KeyPair {
  privateKey: string;
  publicKey: string;
  madeWith: 'webcrypto' | 'noble';
}

/** Clamp as `wg genkey` does, so the key reads the same to every WireGuard tool. */
function clamp(k: Uint8Array): Uint8Array {
  k[0] = k[0]! & 248;
  k[31] = (k[31]! & 127) | 64;
  return k;
}

async function viaWebCrypto(subtle: SubtleCrypto): Promise<KeyPair | null> {
  try {
    const pair = (await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
    const pkcs8 = new Uint8Array(await subtle.exportKey('pkcs8', pair.privateKey));
    const pub = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
    const priv = clamp(pkcs8.slice(-32));
    // Clamping never changes the public key; checking it proves we took the right 32 bytes.
    if (pub.length !== 32 || !bytesEqual(x25519.getPublicKey(priv), pub)) return null;
    return { privateKey: toBase64(priv), publicKey: toBase64(pub), madeWith: 'webcrypto' };
  } catch {
    return null; // no X25519 in this browser's WebCrypto
  }
}

export async function generateKeyPair(): Promise<KeyPair> {
  const subtle = globalThis.crypto?.subtle;
  const made = subtle ? await viaWebCrypto(subtle) : null;
  if (made) return made;
  const priv = clamp(crypto.getRandomValues(new Uint8Array(32)));
  return { privateKey: toBase64(priv), publicKey: toBase64(x25519.getPublicKey(priv)), madeWith: 'noble' };
}
