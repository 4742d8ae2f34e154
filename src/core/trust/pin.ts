/**
 * The root pin: the sha256 of root v1's payload bytes, the one value every
 * client's trust starts from (docs/trust.md, "Pinning in clients"). The
 * operator gives it out of band (`damm init` and `damm keys status` print
 * it; invite links carry it in their `#root=` fragment).
 *
 * One spelling rule and one digest for every client: the CLI's
 * --root-sha256, the gateway agent's pin, the wizard's `#root=` and the
 * control plane's published chain all read and compute it here, so a pin
 * accepted by one client is accepted by all of them.
 *
 * Pure: no I/O.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64, toHex, utf8 } from '../bytes.js';
import { MAX_PAYLOAD_BYTES } from '../envelope.js';
import { DammError } from '../errors.js';

const HEX64 = /^[0-9a-fA-F]{64}$/;

/** A pin as a person typed or pasted it: 64 hex digits, any case, surrounding blanks ignored. Lowercase hex, or null when it is not one. */
export function parseRootSha256(value: string): string | null {
  const t = value.trim();
  return HEX64.test(t) ? t.toLowerCase() : null;
}

/** parseRootSha256, or DammError('invalid_argument') naming where the value came from (`from`, e.g. "--root-sha256"). */
export function checkRootSha256(value: string, from: string): string {
  const pin = parseRootSha256(value);
  if (pin === null) {
    throw new DammError('invalid_argument', `${from} must be the 64-hex-digit sha256 of root v1 ("damm init" and "damm keys status" print it), got "${value.slice(0, 80)}".`);
  }
  return pin;
}

/**
 * sha256 (hex) of an envelope's payload bytes, read WITHOUT verifying
 * anything: what a pin is compared with, and how a re-offer of the same root
 * is recognised. Null when the value has no base64 payload of a bounded size.
 */
export function envelopePayloadSha256(envelope: unknown): string | null {
  const bytes = unverifiedPayload(envelope);
  return bytes ? toHex(sha256(bytes)) : null;
}

/**
 * The version a root envelope claims, read before verification ONLY to know
 * where a chain ends (the walk then verifies every link, this one included).
 * Null when it claims none.
 */
export function claimedRootVersion(envelope: unknown): number | null {
  const bytes = unverifiedPayload(envelope);
  if (!bytes) return null;
  try {
    const v: unknown = (JSON.parse(utf8.decode(bytes)) as { version?: unknown }).version;
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1 ? v : null;
  } catch {
    return null;
  }
}

function unverifiedPayload(envelope: unknown): Uint8Array | null {
  if (typeof envelope !== 'object' || envelope === null) return null;
  const p = (envelope as { payload?: unknown }).payload;
  if (typeof p !== 'string' || p.length > (MAX_PAYLOAD_BYTES * 4) / 3 + 4) return null;
  return fromBase64(p);
}
