/**
 * DSSE-style signed envelopes: the signature covers the payload type and the
 * exact payload bytes (PAE), never a re-serialisation. Verifiers parse the
 * payload only after a signature over those bytes has been checked.
 *
 * Payload types separate roles: a catalog signature can never be replayed as
 * an admission record, and the reverse, because the type is inside the signed
 * bytes.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromBase64, toBase64, toHex, utf8 } from './bytes.js';
import { DammError } from './errors.js';

export const PAYLOAD_TYPES = {
  catalog: 'application/vnd.damm.catalog+json',
  admission: 'application/vnd.damm.admission+json',
  revocation: 'application/vnd.damm.revocation+json',
  root: 'application/vnd.damm.root+json',
} as const;
export type PayloadType = (typeof PAYLOAD_TYPES)[keyof typeof PAYLOAD_TYPES];

/** Payloads larger than this are refused before any parsing (defence against resource exhaustion). */
export const MAX_PAYLOAD_BYTES = 1 << 20;

export interface Signature {
  keyid: string;
  sig: string;
}

export interface Envelope {
  payloadType: string;
  payload: string; // base64 of the exact signed bytes
  signatures: Signature[];
}

/** DSSE pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(body) SP body. */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = utf8.encode(payloadType);
  return concatBytes(utf8.encode(`DSSEv1 ${type.length} `), type, utf8.encode(` ${payload.length} `), payload);
}

/** A key id is derived from the public key bytes, so it can never be chosen to collide with another key's. */
export function keyIdOf(publicKey: Uint8Array): string {
  return toHex(sha256(publicKey));
}

export interface SigningKey {
  keyid: string;
  privateKey: Uint8Array; // 32-byte Ed25519 seed
  publicKey: Uint8Array;
}

export function generateSigningKey(): SigningKey {
  const privateKey = ed25519.utils.randomSecretKey();
  return signingKeyFromSeed(privateKey);
}

export function signingKeyFromSeed(seed: Uint8Array): SigningKey {
  const publicKey = ed25519.getPublicKey(seed);
  return { keyid: keyIdOf(publicKey), privateKey: seed, publicKey };
}

export function signEnvelope(payloadType: PayloadType, payload: Uint8Array, keys: SigningKey[]): Envelope {
  const message = pae(payloadType, payload);
  return {
    payloadType,
    payload: toBase64(payload),
    signatures: keys.map((k) => ({ keyid: k.keyid, sig: toBase64(ed25519.sign(message, k.privateKey)) })),
  };
}

export interface TrustedKey {
  keyid: string;
  publicKey: Uint8Array;
}

/**
 * Verifies an envelope against a set of trusted keys and a threshold of
 * distinct valid signers. Returns the verified payload bytes; callers parse
 * only those bytes.
 */
export function verifyEnvelope(
  envelope: unknown,
  expectedType: PayloadType,
  trusted: readonly TrustedKey[],
  threshold = 1,
): { payload: Uint8Array; signers: string[] } {
  const env = checkEnvelopeShape(envelope);
  if (env.payloadType !== expectedType) {
    throw new DammError('payload_type_mismatch', `Expected a ${expectedType} envelope but got ${String(env.payloadType).slice(0, 80)}.`);
  }
  if (env.payload.length > Math.ceil((MAX_PAYLOAD_BYTES * 4) / 3) + 4) {
    throw new DammError('signature_invalid', 'Envelope payload is larger than any DAMM document may be.');
  }
  const payload = fromBase64(env.payload);
  if (!payload) throw new DammError('signature_invalid', 'Envelope payload is not valid base64.');
  if (payload.length > MAX_PAYLOAD_BYTES) throw new DammError('signature_invalid', 'Envelope payload is larger than any DAMM document may be.');
  const message = pae(env.payloadType, payload);
  const byId = new Map(trusted.map((k) => [k.keyid, k]));
  const signers = new Set<string>();
  for (const s of env.signatures) {
    const key = byId.get(s.keyid);
    if (!key || signers.has(s.keyid)) continue; // unknown keys and duplicate key ids count for nothing
    const sig = fromBase64(s.sig);
    if (!sig || sig.length !== 64) continue;
    let ok = false;
    try {
      ok = ed25519.verify(sig, message, key.publicKey);
    } catch {
      ok = false;
    }
    if (ok) signers.add(s.keyid);
  }
  if (signers.size < Math.max(1, threshold)) {
    throw new DammError(
      'signature_invalid',
      `Envelope has ${signers.size} valid signature(s) from trusted keys; ${Math.max(1, threshold)} required.`,
    );
  }
  return { payload, signers: [...signers] };
}

function checkEnvelopeShape(value: unknown): Envelope {
  if (typeof value !== 'object' || value === null) throw new DammError('signature_invalid', 'Envelope is not an object.');
  const v = value as Record<string, unknown>;
  if (typeof v.payloadType !== 'string' || typeof v.payload !== 'string' || !Array.isArray(v.signatures)) {
    throw new DammError('signature_invalid', 'Envelope must have payloadType, payload and signatures.');
  }
  if (v.signatures.length > 32) throw new DammError('signature_invalid', 'Envelope carries too many signatures.');
  for (const s of v.signatures) {
    if (typeof s !== 'object' || s === null || typeof (s as Signature).keyid !== 'string' || typeof (s as Signature).sig !== 'string') {
      throw new DammError('signature_invalid', 'Each signature needs a keyid and a sig.');
    }
  }
  return v as unknown as Envelope;
}

/** Parses verified payload bytes as strict JSON; trailing garbage is impossible after JSON.parse succeeds on the whole text. */
export function parseVerifiedJson(payload: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch (cause) {
    throw new DammError('signature_invalid', 'Signed payload is not UTF-8.', { cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new DammError('signature_invalid', 'Signed payload is not a single JSON document.', { cause });
  }
}
