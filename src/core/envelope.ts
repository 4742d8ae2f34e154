/**
 * DSSE-style signed envelopes: the signature covers the payload type and the
 * exact payload bytes (PAE), never a re-serialisation. Verifiers parse the
 * payload only after a signature over those bytes has been checked.
 *
 * Payload types separate roles: a catalog signature can never be replayed as
 * an admission record, and the reverse, because the type is inside the signed
 * bytes.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromBase64, toBase64, toHex, utf8 } from './bytes.js';
import { nobleEd25519, publicKeyOf, randomSeed, type Ed25519 } from './ed25519.js';
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
  return signingKeyFromSeed(randomSeed());
}

export function signingKeyFromSeed(seed: Uint8Array): SigningKey {
  const publicKey = publicKeyOf(seed);
  return { keyid: keyIdOf(publicKey), privateKey: seed, publicKey };
}

export function signEnvelope(payloadType: PayloadType, payload: Uint8Array, keys: readonly SigningKey[], ed: Ed25519 = nobleEd25519): Envelope {
  const message = pae(payloadType, payload);
  return {
    payloadType,
    payload: toBase64(payload),
    signatures: keys.map((k) => ({ keyid: k.keyid, sig: toBase64(ed.sign(message, k.privateKey)) })),
  };
}

export interface TrustedKey {
  keyid: string;
  publicKey: Uint8Array;
}

export interface VerifyEnvelopeOptions {
  ed?: Ed25519;
  /**
   * Keys that would count but are outside their validity window now. They
   * never count; when they alone would have met the threshold the refusal
   * says so (reason key_outside_validity_window: the "old key after its
   * overlap ended" case), which tells an operator what to rotate.
   */
  retiredKeys?: readonly TrustedKey[];
}

/** Refusals of a malformed envelope carry this reason; refusals of its signatures do not. */
export const MALFORMED_ENVELOPE = 'envelope_malformed';

function malformed(message: string): DammError {
  return new DammError('signature_invalid', message, { details: { reason: MALFORMED_ENVELOPE } });
}

function countSigners(env: Envelope, message: Uint8Array, trusted: readonly TrustedKey[], ed: Ed25519): Set<string> {
  const byId = new Map(trusted.map((k) => [k.keyid, k]));
  const signers = new Set<string>();
  for (const s of env.signatures) {
    const key = byId.get(s.keyid);
    if (!key || signers.has(s.keyid)) continue; // unknown keys and duplicate key ids count for nothing
    const sig = fromBase64(s.sig);
    if (sig && sig.length === 64 && ed.verify(sig, message, key.publicKey)) signers.add(s.keyid);
  }
  return signers;
}

/**
 * The one envelope opener: checks the shape, the payload type, then a
 * threshold of distinct valid signers over PAE(type, exact bytes). Returns
 * the verified payload bytes; callers parse only those bytes
 * (parseVerifiedJson). Every verifier of every record type goes through here.
 */
export function verifyEnvelope(
  envelope: unknown,
  expectedType: PayloadType,
  trusted: readonly TrustedKey[],
  threshold = 1,
  opts: VerifyEnvelopeOptions = {},
): { payload: Uint8Array; signers: string[] } {
  const env = checkEnvelopeShape(envelope);
  if (env.payloadType !== expectedType) {
    throw new DammError('payload_type_mismatch', `Expected a ${expectedType} envelope but got ${String(env.payloadType).slice(0, 80)}.`);
  }
  if (env.payload.length > Math.ceil((MAX_PAYLOAD_BYTES * 4) / 3) + 4) {
    throw malformed('Envelope payload is larger than any DAMM document may be.');
  }
  const payload = fromBase64(env.payload);
  if (!payload) throw malformed('Envelope payload is not valid base64.');
  if (payload.length > MAX_PAYLOAD_BYTES) throw malformed('Envelope payload is larger than any DAMM document may be.');
  const message = pae(env.payloadType, payload);
  const ed = opts.ed ?? nobleEd25519;
  const need = Math.max(1, threshold);
  const signers = countSigners(env, message, trusted, ed);
  if (signers.size < need) {
    const retired = opts.retiredKeys ?? [];
    if (retired.length > 0 && countSigners(env, message, [...trusted, ...retired], ed).size >= need) {
      throw new DammError(
        'signature_invalid',
        `The signature(s) come from key(s) outside their validity window now; ${need} currently valid key(s) required.`,
        { details: { reason: 'key_outside_validity_window' } },
      );
    }
    throw new DammError('signature_invalid', `Envelope has ${signers.size} valid signature(s) from trusted keys; ${need} required.`);
  }
  return { payload, signers: [...signers] };
}

function checkEnvelopeShape(value: unknown): Envelope {
  if (typeof value !== 'object' || value === null) throw malformed('Envelope is not an object.');
  const v = value as Record<string, unknown>;
  if (typeof v.payloadType !== 'string' || typeof v.payload !== 'string' || !Array.isArray(v.signatures)) {
    throw malformed('Envelope must have payloadType, payload and signatures.');
  }
  if (v.signatures.length > 32) throw malformed('Envelope carries too many signatures.');
  for (const s of v.signatures) {
    if (typeof s !== 'object' || s === null || typeof (s as Signature).keyid !== 'string' || typeof (s as Signature).sig !== 'string') {
      throw malformed('Each signature needs a keyid and a sig.');
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
    throw new DammError('signature_invalid', 'Signed payload is not UTF-8.', { cause, details: { reason: MALFORMED_ENVELOPE } });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new DammError('signature_invalid', 'Signed payload is not a single JSON document.', { cause, details: { reason: MALFORMED_ENVELOPE } });
  }
}
