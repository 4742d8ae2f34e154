import { x25519 } from '@noble/curves/ed25519.js';

/**
 * An X25519 key pair as WireGuard writes it (base64), made the way the
 * browser makes one. Not node:crypto's generateKeyPairSync + export('jwk'):
 * on Node 20 that pair can deadlock the whole process (a garbage collection
 * inside KeyObjectHandle::ExportJWK runs a KeyGenJob destructor that waits
 * on a mutex the export holds; seen in a gdb backtrace of a test stuck at
 * 0 % CPU in the middle of a burst of key generation).
 */
export function wgKeyPair(): { privateKey: string; publicKey: string } {
  const secret = x25519.utils.randomSecretKey();
  return { publicKey: Buffer.from(x25519.getPublicKey(secret)).toString('base64'), privateKey: Buffer.from(secret).toString('base64') };
}
