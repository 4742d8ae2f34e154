/**
 * Proxy credentials as the device makes them (issue 12, point 4): born from
 * the device's own random bytes, sealed to the gateway (seal.ts), opened only
 * there. One spelling per protocol, checked on both sides:
 *
 * - shadowsocks: 32 random bytes as unpadded base64url (43 characters), the
 *   Shadowsocks password (outline-ss-server derives the AEAD key from it);
 * - vless: 16 random bytes as a lower-case RFC 4122 version-4 UUID.
 *
 * Pure and browser-safe; randomness is passed in (the wizard gives
 * crypto.getRandomValues bytes, tests give fixed bytes).
 */
import { DammError } from './errors.js';
import { toBase64Url, toHex, utf8 } from './bytes.js';

export type ProxyProtocol = 'shadowsocks' | 'vless';

const SS_RE = /^[A-Za-z0-9_-]{43}$/;
const UUID_V4_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A new credential for `protocol` from `random` (32 bytes for shadowsocks, 16 for vless). */
export function newProxyCredential(protocol: ProxyProtocol, random: Uint8Array): string {
  if (protocol === 'shadowsocks') {
    if (random.length !== 32) throw new DammError('invalid_argument', 'A Shadowsocks secret takes 32 random bytes.');
    return toBase64Url(random);
  }
  if (protocol === 'vless') {
    if (random.length !== 16) throw new DammError('invalid_argument', 'A VLESS UUID takes 16 random bytes.');
    const b = Uint8Array.from(random);
    b[6] = (b[6]! & 0x0f) | 0x40; // version 4
    b[8] = (b[8]! & 0x3f) | 0x80; // RFC 4122 variant
    const h = toHex(b);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  throw new DammError('invalid_argument', `Unknown proxy protocol ${String(protocol)}.`);
}

/** Whether `text` is a credential of `protocol` in DAMM's one spelling. */
export function isProxyCredential(protocol: ProxyProtocol, text: string): boolean {
  return typeof text === 'string' && (protocol === 'shadowsocks' ? SS_RE.test(text) : protocol === 'vless' ? UUID_V4_RE.test(text) : false);
}

/** The bytes that get sealed. */
export function encodeProxyCredential(protocol: ProxyProtocol, text: string): Uint8Array {
  if (!isProxyCredential(protocol, text)) throw new DammError('invalid_argument', `Not a ${protocol} credential as DAMM makes them.`);
  return utf8.encode(text);
}

/** The credential in opened bytes; anything else is `record_invalid` (a sealed field that opened but is not one). */
export function decodeProxyCredential(protocol: ProxyProtocol, bytes: Uint8Array): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (cause) {
    throw new DammError('record_invalid', `The opened ${protocol} credential is not text.`, { cause });
  }
  if (!isProxyCredential(protocol, text)) throw new DammError('record_invalid', `The opened bytes are not a ${protocol} credential.`);
  return text;
}
