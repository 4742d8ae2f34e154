import { DammError } from './errors.js';
import { fromBase64 } from './bytes.js';

/** A WireGuard key is 32 bytes, written as 44 characters of standard base64. */
export const WG_KEY_PATTERN = '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$';

export function parseWireGuardPublicKey(text: string): Uint8Array {
  if (typeof text !== 'string' || !new RegExp(WG_KEY_PATTERN).test(text)) {
    throw new DammError('invalid_public_key', 'publicKey must be a WireGuard public key: 32 bytes in standard base64 (44 characters ending in "=").');
  }
  const bytes = fromBase64(text);
  if (!bytes || bytes.length !== 32) {
    throw new DammError('invalid_public_key', 'publicKey does not decode to 32 bytes.');
  }
  if (bytes.every((b) => b === 0)) {
    throw new DammError('invalid_public_key', 'publicKey is the all-zero key, which WireGuard rejects.');
  }
  return bytes;
}

export function isWireGuardKey(text: string): boolean {
  try {
    parseWireGuardPublicKey(text);
    return true;
  } catch {
    return false;
  }
}
