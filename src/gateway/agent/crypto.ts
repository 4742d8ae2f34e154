/** Ed25519 verification through Node's native crypto (~0.08 ms vs ~1.2 ms for the pure-JS default in core). */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { Ed25519 } from '../../core/admission.js';

const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

export function nativeEd25519(): Ed25519 {
  const keys = new Map<string, KeyObject>();
  return {
    sign() {
      throw new Error('the gateway agent never signs admission records');
    },
    verify(signature, message, publicKey) {
      try {
        const id = Buffer.from(publicKey).toString('hex');
        let k = keys.get(id);
        if (!k) {
          k = createPublicKey({ key: Buffer.concat([SPKI_ED25519, publicKey]), format: 'der', type: 'spki' });
          keys.set(id, k);
        }
        return verify(null, message, k, signature);
      } catch {
        return false;
      }
    },
  };
}
