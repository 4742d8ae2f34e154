/**
 * The root document: DAMM's offline trust anchor, after TUF's root role.
 *
 * A root lists Ed25519 keys (key id = sha256 of the public key bytes, so an id
 * can never be chosen to alias another key) and three roles, each a set of key
 * ids with a threshold:
 *   - root       offline keys that sign root documents (no validity window);
 *   - catalog    online keys that sign the front-door catalog;
 *   - admission  online keys that sign admission and revocation records.
 * Every online key carries a validity window (notBefore/notAfter, after
 * sigstore's `validFor(date)`), which is what makes overlapping rotation safe:
 * the old key keeps counting until its window ends, and not a moment longer.
 *
 * A root is versioned and expiring. Clients move from root N to N+1 only
 * through `verifyNextRoot` (TUF 5.3), one version at a time.
 *
 * Pure: no I/O, no clock. `now` is always passed in.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64, toBase64, toHex, utf8 } from '../bytes.js';
import {
  keyIdOf,
  MAX_PAYLOAD_BYTES,
  parseVerifiedJson,
  PAYLOAD_TYPES,
  signEnvelope,
  verifyEnvelope,
  type Envelope,
  type PayloadType,
  type SigningKey,
  type TrustedKey,
} from '../envelope.js';
import { DammError } from '../errors.js';
import { envelopePayloadSha256 } from './pin.js';
import { checkNow, formatTimestamp, parseTimestamp, withinWindow } from './time.js';

export const ROLE_NAMES = ['root', 'catalog', 'admission'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];
export const ONLINE_ROLES = ['catalog', 'admission'] as const;
export type OnlineRole = (typeof ONLINE_ROLES)[number];

/** How many root versions one update may walk (TUF's max_root_rotations). */
export const MAX_ROOT_WALK = 32;
export const MAX_ROOT_KEYS = 64;
export const MAX_ROLE_KEYS = 16;
export const ROOT_SPEC_VERSION = 1;

// ---------------------------------------------------------------------------
// JSON shape (what is signed)

export interface RootKeyEntry {
  keytype: 'ed25519';
  /** 32-byte Ed25519 public key, standard base64. */
  publicKey: string;
  /** Online keys only: the key counts for signatures verified at t with notBefore <= t < notAfter. */
  notBefore?: string;
  notAfter?: string;
}

export interface RoleEntry {
  keyids: string[];
  threshold: number;
}

export interface RootDocument {
  kind: 'root';
  specVersion: 1;
  version: number;
  issuedAt: string;
  expiresAt: string;
  keys: Record<string, RootKeyEntry>;
  roles: Record<RoleName, RoleEntry>;
}

// ---------------------------------------------------------------------------
// Verified root (only this module can make one)

export interface VerifiedRoot {
  readonly version: number;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  /** Deep-frozen parsed document. */
  readonly document: Readonly<RootDocument>;
  /** The envelope as received; persist this, never a re-serialisation. */
  readonly envelope: Envelope;
  /** sha256 hex of the signed payload bytes. */
  readonly payloadSha256: string;
}

const verifiedRoots = new WeakSet<object>();

function assertVerified(root: VerifiedRoot): void {
  if (typeof root !== 'object' || root === null || !verifiedRoots.has(root)) {
    throw new DammError('trust_invalid', 'A root must come from trustRoot() or verifyNextRoot(); a hand-built object is not trusted.');
  }
}

export interface RoleKey extends TrustedKey {
  notBefore: Date | undefined;
  notAfter: Date | undefined;
}

/** sigstore-style validity: notBefore (with clock-skew allowance) <= now < notAfter. */
export function keyValidFor(key: RoleKey, now: Date): boolean {
  return withinWindow(now, key.notBefore, key.notAfter);
}

/** The keys of one role, decoded. Windows are not applied here; see `keyValidFor`. */
export function roleKeys(root: VerifiedRoot, role: RoleName): RoleKey[] {
  assertVerified(root);
  return roleKeysOf(root.document, role);
}

export function roleThreshold(root: VerifiedRoot, role: RoleName): number {
  assertVerified(root);
  return root.document.roles[role].threshold;
}

function roleKeysOf(doc: Readonly<RootDocument>, role: RoleName): RoleKey[] {
  return doc.roles[role].keyids.map((keyid) => {
    const entry = doc.keys[keyid]!; // parseRootDocument guarantees presence
    return {
      keyid,
      publicKey: fromBase64(entry.publicKey)!,
      notBefore: entry.notBefore === undefined ? undefined : new Date(entry.notBefore),
      notAfter: entry.notAfter === undefined ? undefined : new Date(entry.notAfter),
    };
  });
}

// ---------------------------------------------------------------------------
// Schema

const HEX64 = /^[0-9a-f]{64}$/;

function invalid(message: string, reason = 'root_malformed'): DammError {
  return new DammError('trust_invalid', message, { details: { reason } });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function exactKeys(obj: Record<string, unknown>, required: readonly string[], optional: readonly string[], where: string): void {
  for (const k of required) {
    if (!Object.prototype.hasOwnProperty.call(obj, k)) throw invalid(`${where} is missing "${k}".`);
  }
  for (const k of Object.keys(obj)) {
    if (!required.includes(k) && !optional.includes(k)) throw invalid(`${where} has an unknown field "${k.slice(0, 40)}".`);
  }
}

/**
 * Validates a parsed root payload. Unknown fields are refused: a field this
 * client does not understand could carry a rule it would silently ignore.
 */
export function parseRootDocument(value: unknown): RootDocument {
  if (!isPlainObject(value)) throw invalid('Root payload is not a JSON object.');
  exactKeys(value, ['kind', 'specVersion', 'version', 'issuedAt', 'expiresAt', 'keys', 'roles'], [], 'Root');
  if (value.kind !== 'root') throw invalid('Root kind must be "root".');
  if (value.specVersion !== ROOT_SPEC_VERSION) throw invalid(`Root specVersion must be ${ROOT_SPEC_VERSION}.`);
  const version = value.version;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw invalid('Root version must be a positive integer.');
  }
  const issuedAt = parseTimestamp(value.issuedAt, 'Root issuedAt', 'trust_invalid');
  const expiresAt = parseTimestamp(value.expiresAt, 'Root expiresAt', 'trust_invalid');
  if (expiresAt.getTime() <= issuedAt.getTime()) throw invalid('Root expiresAt must be after issuedAt.');

  if (!isPlainObject(value.keys)) throw invalid('Root keys must be an object keyed by key id.');
  const keyEntries = Object.entries(value.keys);
  if (keyEntries.length < 1 || keyEntries.length > MAX_ROOT_KEYS) throw invalid(`Root must list 1 to ${MAX_ROOT_KEYS} keys.`);
  const keys: Record<string, RootKeyEntry> = {};
  for (const [keyid, entry] of keyEntries) {
    if (!HEX64.test(keyid)) throw invalid('Root key ids must be 64 lowercase hex characters.');
    if (!isPlainObject(entry)) throw invalid(`Root key ${keyid.slice(0, 12)} is not an object.`);
    exactKeys(entry, ['keytype', 'publicKey'], ['notBefore', 'notAfter'], `Root key ${keyid.slice(0, 12)}`);
    if (entry.keytype !== 'ed25519') throw invalid(`Root key ${keyid.slice(0, 12)} must be ed25519.`);
    const pk = typeof entry.publicKey === 'string' ? fromBase64(entry.publicKey) : null;
    if (!pk || pk.length !== 32) throw invalid(`Root key ${keyid.slice(0, 12)} is not a 32-byte base64 Ed25519 public key.`);
    // The id is derived, never chosen: one key cannot be listed twice to count twice.
    if (keyIdOf(pk) !== keyid) throw invalid(`Root key id ${keyid.slice(0, 12)} is not sha256 of its public key.`, 'keyid_mismatch');
    const out: RootKeyEntry = { keytype: 'ed25519', publicKey: entry.publicKey as string };
    if (entry.notBefore !== undefined || entry.notAfter !== undefined) {
      const nb = parseTimestamp(entry.notBefore, `Key ${keyid.slice(0, 12)} notBefore`, 'trust_invalid');
      const na = parseTimestamp(entry.notAfter, `Key ${keyid.slice(0, 12)} notAfter`, 'trust_invalid');
      if (na.getTime() <= nb.getTime()) throw invalid(`Key ${keyid.slice(0, 12)} notAfter must be after notBefore.`);
      out.notBefore = entry.notBefore as string;
      out.notAfter = entry.notAfter as string;
    }
    keys[keyid] = out;
  }

  if (!isPlainObject(value.roles)) throw invalid('Root roles must be an object.');
  exactKeys(value.roles, ROLE_NAMES, [], 'Root roles');
  const roles = {} as Record<RoleName, RoleEntry>;
  const owner = new Map<string, RoleName>();
  for (const role of ROLE_NAMES) {
    const r = value.roles[role];
    if (!isPlainObject(r)) throw invalid(`Role ${role} is not an object.`);
    exactKeys(r, ['keyids', 'threshold'], [], `Role ${role}`);
    if (!Array.isArray(r.keyids) || r.keyids.length < 1 || r.keyids.length > MAX_ROLE_KEYS) {
      throw invalid(`Role ${role} must list 1 to ${MAX_ROLE_KEYS} key ids.`);
    }
    const keyids: string[] = [];
    for (const id of r.keyids) {
      if (typeof id !== 'string' || !Object.prototype.hasOwnProperty.call(keys, id)) {
        throw invalid(`Role ${role} names a key that the root does not list.`);
      }
      if (keyids.includes(id)) throw invalid(`Role ${role} lists a key id twice.`);
      // Separation of duties: the offline root key is never an online key, and
      // a leaked catalog key cannot sign admissions (and the reverse).
      const prev = owner.get(id);
      if (prev) throw invalid(`Key ${id.slice(0, 12)} is in both the ${prev} and ${role} roles; each key serves one role.`);
      owner.set(id, role);
      const entry = keys[id]!;
      if (role === 'root' && entry.notBefore !== undefined) {
        throw invalid('Root-role keys carry no validity window; the root document expiry bounds them.');
      }
      if (role !== 'root' && entry.notBefore === undefined) {
        throw invalid(`Online key ${id.slice(0, 12)} (${role}) needs a notBefore/notAfter validity window.`);
      }
      keyids.push(id);
    }
    const threshold = r.threshold;
    if (typeof threshold !== 'number' || !Number.isSafeInteger(threshold) || threshold < 1 || threshold > keyids.length) {
      throw invalid(`Role ${role} threshold must be an integer from 1 to its number of keys.`);
    }
    roles[role] = { keyids, threshold };
  }
  for (const keyid of Object.keys(keys)) {
    if (!owner.has(keyid)) throw invalid(`Key ${keyid.slice(0, 12)} is listed but belongs to no role.`);
  }
  return {
    kind: 'root',
    specVersion: ROOT_SPEC_VERSION,
    version,
    issuedAt: value.issuedAt as string,
    expiresAt: value.expiresAt as string,
    keys,
    roles,
  };
}

// ---------------------------------------------------------------------------
// Building and signing (operator side)

export interface OnlineKeyInput {
  publicKey: Uint8Array;
  notBefore: Date;
  notAfter: Date;
}

export interface BuildRootInput {
  version: number;
  issuedAt: Date;
  expiresAt: Date;
  root: { keys: Uint8Array[]; threshold: number };
  catalog: { keys: OnlineKeyInput[]; threshold: number };
  admission: { keys: OnlineKeyInput[]; threshold: number };
}

/** Builds a root document and validates it with the same rules clients apply. */
export function buildRoot(input: BuildRootInput): RootDocument {
  const keys: Record<string, RootKeyEntry> = {};
  const ids = (list: Array<Uint8Array | OnlineKeyInput>): string[] =>
    list.map((k) => {
      const pk = k instanceof Uint8Array ? k : k.publicKey;
      const keyid = keyIdOf(pk);
      const entry: RootKeyEntry = { keytype: 'ed25519', publicKey: toBase64(pk) };
      if (!(k instanceof Uint8Array)) {
        entry.notBefore = formatTimestamp(k.notBefore);
        entry.notAfter = formatTimestamp(k.notAfter);
      }
      keys[keyid] = entry;
      return keyid;
    });
  const doc = {
    kind: 'root',
    specVersion: ROOT_SPEC_VERSION,
    version: input.version,
    issuedAt: formatTimestamp(input.issuedAt),
    expiresAt: formatTimestamp(input.expiresAt),
    keys,
    roles: {
      root: { keyids: ids(input.root.keys), threshold: input.root.threshold },
      catalog: { keyids: ids(input.catalog.keys), threshold: input.catalog.threshold },
      admission: { keyids: ids(input.admission.keys), threshold: input.admission.threshold },
    },
  };
  return parseRootDocument(JSON.parse(JSON.stringify(doc)));
}

/** The inverse of buildRoot, so a rotation is `buildRoot({ ...rootToInput(prev), version: prev.version + 1, catalog: ... })`. */
export function rootToInput(doc: RootDocument): BuildRootInput {
  const d = parseRootDocument(doc);
  const online = (role: OnlineRole) => ({
    threshold: d.roles[role].threshold,
    keys: roleKeysOf(d, role).map((k) => ({ publicKey: k.publicKey, notBefore: k.notBefore!, notAfter: k.notAfter! })),
  });
  return {
    version: d.version,
    issuedAt: new Date(d.issuedAt),
    expiresAt: new Date(d.expiresAt),
    root: { threshold: d.roles.root.threshold, keys: roleKeysOf(d, 'root').map((k) => k.publicKey) },
    catalog: online('catalog'),
    admission: online('admission'),
  };
}

function uniqueKeys(keys: readonly SigningKey[]): SigningKey[] {
  const seen = new Set<string>();
  return keys.filter((k) => (seen.has(k.keyid) ? false : (seen.add(k.keyid), true)));
}

/**
 * Signs a root. For a root update, pass a threshold of the previous root's
 * root keys AND a threshold of this root's own root keys (they may overlap).
 */
export function signRoot(root: RootDocument, rootKeys: readonly SigningKey[]): Envelope {
  const doc = parseRootDocument(root);
  return signEnvelope(PAYLOAD_TYPES.root, utf8.encode(JSON.stringify(doc)), uniqueKeys(rootKeys));
}

/** Adds signatures over the same payload bytes (root-key holders signing one after another). */
export function addRootSignatures(envelope: Envelope, rootKeys: readonly SigningKey[]): Envelope {
  if (envelope.payloadType !== PAYLOAD_TYPES.root) {
    throw new DammError('payload_type_mismatch', 'Only a root envelope can be counter-signed as a root.');
  }
  const payload = fromBase64(envelope.payload);
  if (!payload) throw new DammError('signature_invalid', 'Envelope payload is not valid base64.');
  const have = new Set(envelope.signatures.map((s) => s.keyid));
  const extra = signEnvelope(PAYLOAD_TYPES.root, payload, uniqueKeys(rootKeys).filter((k) => !have.has(k.keyid)));
  return { ...envelope, signatures: [...envelope.signatures, ...extra.signatures] };
}

// ---------------------------------------------------------------------------
// Verification

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

function makeVerified(doc: RootDocument, envelope: Envelope, payload: Uint8Array): VerifiedRoot {
  const root: VerifiedRoot = Object.freeze({
    version: doc.version,
    issuedAt: new Date(doc.issuedAt),
    expiresAt: new Date(doc.expiresAt),
    document: deepFreeze(doc),
    envelope: deepFreeze(JSON.parse(JSON.stringify(envelope)) as Envelope),
    payloadSha256: toHex(sha256(payload)),
  });
  verifiedRoots.add(root);
  return root;
}

/** What a verifier needs from one online role of a root at one instant. */
export interface RoleTrust {
  /** The role's keys valid at that instant: only these count. */
  trustedKeys: RoleKey[];
  threshold: number;
  /** The role's other keys: they never count; they only explain a refusal (key_outside_validity_window). */
  retiredKeys: RoleKey[];
}

/**
 * The keys of an online role that count at `now`, with the role's threshold.
 * An expired root certifies nothing (freeze attack on the anchor): every key
 * is then retired. Catalog verification and the gateway's admission checks
 * both take their keys from here.
 */
export function roleTrustAt(root: VerifiedRoot, role: OnlineRole, now: Date): RoleTrust {
  assertVerified(root);
  const at = checkNow(now);
  const keys = roleKeys(root, role);
  const threshold = root.document.roles[role].threshold;
  if (at.getTime() >= root.expiresAt.getTime()) return { trustedKeys: [], threshold, retiredKeys: keys };
  return { trustedKeys: keys.filter((k) => keyValidFor(k, at)), threshold, retiredKeys: keys.filter((k) => !keyValidFor(k, at)) };
}

/**
 * Checks an envelope against one role of a verified root and returns the
 * verified payload bytes. For online roles only keys valid at `now` count;
 * a signature that would only pass with keys outside their window is
 * reported as such (the "old key after its overlap ended" case).
 */
export function verifyRoleSignatures(
  envelope: unknown,
  root: VerifiedRoot,
  role: RoleName,
  payloadType: PayloadType,
  now?: Date,
): { payload: Uint8Array; signers: string[] } {
  assertVerified(root);
  if (role === 'root') return verifyEnvelope(envelope, payloadType, roleKeys(root, role), root.document.roles.root.threshold);
  const t = roleTrustAt(root, role, checkNow(now));
  return verifyEnvelope(envelope, payloadType, t.trustedKeys, t.threshold, { retiredKeys: t.retiredKeys });
}

/**
 * Establishes initial trust in a root delivered out of band (shipped with the
 * client, printed by `damm init`). With `pinnedSha256` the payload bytes must
 * match before anything is parsed; without it, trust rests on the delivery
 * channel. Either way the root must carry a threshold of its own root keys.
 * Expiry is not checked here: the update walk that follows checks the final root.
 */
export function trustRoot(envelope: unknown, opts: { pinnedSha256?: string } = {}): VerifiedRoot {
  if (typeof envelope !== 'object' || envelope === null) throw new DammError('signature_invalid', 'Envelope is not an object.');
  const env = envelope as Envelope;
  if (env.payloadType !== PAYLOAD_TYPES.root) {
    throw new DammError('payload_type_mismatch', `Expected a ${PAYLOAD_TYPES.root} envelope.`);
  }
  const payload = typeof env.payload === 'string' && env.payload.length <= (MAX_PAYLOAD_BYTES * 4) / 3 + 4 ? fromBase64(env.payload) : null;
  if (!payload || payload.length > MAX_PAYLOAD_BYTES) throw new DammError('signature_invalid', 'Root payload is not valid base64 of a bounded size.');
  if (opts.pinnedSha256 !== undefined && toHex(sha256(payload)) !== opts.pinnedSha256.toLowerCase()) {
    throw new DammError('trust_invalid', 'Root does not match the pinned sha256.', { details: { reason: 'pin_mismatch' } });
  }
  const doc = parseRootDocument(parseVerifiedJson(payload));
  const verified = verifyEnvelope(env, PAYLOAD_TYPES.root, roleKeysOf(doc, 'root'), doc.roles.root.threshold);
  return makeVerified(doc, env, verified.payload);
}

/**
 * One step of the TUF client root update (spec 5.3.3-5.3.4): the candidate
 * must be signed by a threshold of the TRUSTED root's root keys, must be
 * version N+1 exactly, and must be signed by a threshold of its OWN root keys.
 * Expiry of this (possibly intermediate) root is deliberately not checked
 * (5.3.5); the walk checks the final one (5.3.10).
 */
export function verifyNextRoot(trusted: VerifiedRoot, candidate: unknown): VerifiedRoot {
  assertVerified(trusted);
  // 5.3.3 (a): a threshold of the keys we already trust. Only now are the bytes parsed.
  const { payload } = verifyRoleSignatures(candidate, trusted, 'root', PAYLOAD_TYPES.root);
  const doc = parseRootDocument(parseVerifiedJson(payload));
  // 5.3.4: rollback and skip protection: exactly N+1.
  if (doc.version === trusted.version) {
    const same = toHex(sha256(payload)) === trusted.payloadSha256;
    throw new DammError(
      'trust_invalid',
      same ? `Root ${doc.version} is already trusted.` : `Two different roots claim version ${doc.version}; refusing both the offer and any switch.`,
      { details: { reason: same ? 'root_not_newer' : 'root_equivocation' } },
    );
  }
  if (doc.version !== trusted.version + 1) {
    throw new DammError(
      'trust_invalid',
      `Root version ${doc.version} offered after ${trusted.version}; roots are walked one version at a time (expected ${trusted.version + 1}).`,
      { details: { reason: doc.version < trusted.version ? 'root_rollback' : 'root_version_skip' } },
    );
  }
  // 5.3.3 (b): a threshold of its own root keys, so a new root key set proves possession.
  const own = verifyEnvelope(candidate, PAYLOAD_TYPES.root, roleKeysOf(doc, 'root'), doc.roles.root.threshold);
  return makeVerified(doc, candidate as Envelope, own.payload);
}

/** 5.3.10: the freeze-attack check on the final root of a walk. */
export function assertRootFresh(root: VerifiedRoot, now: Date): void {
  assertVerified(root);
  const at = checkNow(now);
  if (at.getTime() >= root.expiresAt.getTime()) {
    throw new DammError('trust_invalid', `Trusted root version ${root.version} expired at ${root.document.expiresAt}.`, {
      details: { reason: 'root_expired', version: root.version },
    });
  }
}

/**
 * Online roles whose keys changed between two roots: a key id added or
 * removed, or a key's validity window changed. TUF 5.3.11: when they did, the
 * client forgets what it last saw from that role (fast-forward recovery).
 */
export function rotatedRoles(from: VerifiedRoot, to: VerifiedRoot): OnlineRole[] {
  assertVerified(from);
  assertVerified(to);
  const sig = (r: VerifiedRoot, role: OnlineRole): string =>
    r.document.roles[role].keyids
      .map((id) => `${id}:${r.document.keys[id]!.notBefore}:${r.document.keys[id]!.notAfter}`)
      .sort()
      .join(',');
  return ONLINE_ROLES.filter((role) => sig(from, role) !== sig(to, role));
}

export interface RootUpdate {
  root: VerifiedRoot;
  /** Roots accepted during the walk, in order (empty when nothing was newer). */
  walked: VerifiedRoot[];
  /** Online roles rotated anywhere along the walk; reset their last-seen state. */
  rotatedRoles: OnlineRole[];
}

/** A walk's outcome, progress included: a later bad version must not undo what an earlier one revoked (TUF 5.3.7). */
export interface RootWalk extends RootUpdate {
  /** Why the walk stopped early (the first refused candidate), or null when every candidate was taken. */
  failure: unknown;
}

/**
 * The one root-chain walk (TUF 5.3.3-5.3.9) every client runs, over
 * candidates ordered by version: N -> N+1 -> ... one step at a time through
 * `verifyNextRoot`, never skipping; at most `maxWalk` steps; a re-offer of
 * the currently trusted root's exact bytes is skipped. It never throws on a
 * bad candidate: it stops there and returns the verified progress with the
 * refusal, so a stateful client can keep that progress. Freshness of the
 * final root is the caller's step (`assertRootFresh`, 5.3.10):
 * `verifyRootChain` for a client that keeps nothing, `TrustClient` for one
 * that persists, and not at all for the control plane checking what it
 * publishes.
 */
export function walkRootChain(trusted: VerifiedRoot, candidates: readonly unknown[], opts: { maxWalk?: number } = {}): RootWalk {
  assertVerified(trusted);
  const maxWalk = opts.maxWalk ?? MAX_ROOT_WALK;
  if (!Number.isSafeInteger(maxWalk) || maxWalk < 0) throw new DammError('invalid_argument', 'maxWalk must be a non-negative integer.');
  if (!Array.isArray(candidates)) throw new DammError('invalid_argument', 'candidates must be an array of envelopes.');
  let current = trusted;
  const walked: VerifiedRoot[] = [];
  const rotated = new Set<OnlineRole>();
  let failure: unknown = null;
  for (const candidate of candidates) {
    if (envelopePayloadSha256(candidate) === current.payloadSha256) continue;
    if (walked.length >= maxWalk) {
      failure = new DammError('trust_invalid', `More than ${maxWalk} root versions offered in one update.`, { details: { reason: 'root_walk_too_long' } });
      break;
    }
    try {
      const next = verifyNextRoot(current, candidate);
      for (const role of rotatedRoles(current, next)) rotated.add(role);
      walked.push(next);
      current = next;
    } catch (err) {
      failure = err;
      break;
    }
  }
  return { root: current, walked, rotatedRoles: ONLINE_ROLES.filter((r) => rotated.has(r)), failure };
}

/**
 * The TUF client root update (5.3) over candidates ordered by version:
 * N -> N+1 -> ... one step at a time, never skipping; at most `maxWalk`
 * steps; the final root must not be expired at `now` (intermediate roots may
 * be). A re-offer of the currently trusted root's exact bytes is skipped.
 */
export function verifyRootChain(
  trusted: VerifiedRoot,
  candidates: readonly unknown[],
  now: Date,
  opts: { maxWalk?: number } = {},
): RootUpdate {
  checkNow(now);
  const { failure, ...update } = walkRootChain(trusted, candidates, opts);
  if (failure !== null) throw failure;
  assertRootFresh(update.root, now);
  return update;
}
