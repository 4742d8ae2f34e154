/**
 * Pure peer logic shared by the backends: validate and canonicalise input,
 * decide whether a read-back satisfies a change, diff desired against actual.
 */
import { DammError } from '../../core/errors.js';
import { parseWireGuardPublicKey } from '../../core/wg-key.js';
import { toBase64 } from '../../core/bytes.js';
import type { InterfaceState, PeerChanges, PeerSpec, PeerState } from './backend.js';
import { canonicalEndpoint, canonicalPrefix } from '../../core/ip.js';
import { parseSecretKey, presharedKeyDigest } from './keys.js';

export const MAX_ALLOWED_IPS_PER_PEER = 1024;

/** A validated spec in canonical spelling; `pskDigest` lets it be compared with a read-back. */
export interface NormalizedPeer extends PeerSpec {
  allowedIps: string[]; // canonical, deduplicated, sorted
  persistentKeepalive: number;
  pskDigest: string | undefined;
}

function canonicalPublicKey(key: string, where: string): string {
  try {
    return toBase64(parseWireGuardPublicKey(key));
  } catch (err) {
    throw new DammError('invalid_public_key', `${where}: not a WireGuard public key.`, { cause: err });
  }
}

export function normalizePeerSpec(spec: PeerSpec, where = 'peer'): NormalizedPeer {
  if (typeof spec !== 'object' || spec === null) throw new DammError('invalid_argument', `${where} must be an object.`);
  const publicKey = canonicalPublicKey(spec.publicKey, where);
  const at = `${where} ${publicKey}`;
  if (!Array.isArray(spec.allowedIps)) throw new DammError('invalid_argument', `${at}: allowedIps must be an array.`);
  if (spec.allowedIps.length > MAX_ALLOWED_IPS_PER_PEER) {
    throw new DammError('invalid_argument', `${at}: more than ${MAX_ALLOWED_IPS_PER_PEER} allowed IPs.`);
  }
  const allowed = new Set<string>();
  for (const ip of spec.allowedIps) {
    const c = canonicalPrefix(ip);
    if (c === null) throw new DammError('invalid_argument', `${at}: allowed IP ${JSON.stringify(String(ip).slice(0, 60))} is not an IP prefix.`);
    allowed.add(c);
  }
  const keepalive = spec.persistentKeepalive ?? 0;
  if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65535) {
    throw new DammError('invalid_argument', `${at}: persistentKeepalive must be an integer 0..65535.`);
  }
  let endpoint: string | undefined;
  if (spec.endpoint !== undefined) {
    const e = canonicalEndpoint(spec.endpoint);
    if (e === null) throw new DammError('invalid_argument', `${at}: endpoint must be "ip:port" or "[ipv6]:port".`);
    endpoint = e;
  }
  let presharedKey: string | undefined;
  let pskDigest: string | undefined;
  if (spec.presharedKey !== undefined) {
    const bytes = parseSecretKey(spec.presharedKey, `${at}: presharedKey`, { allowZero: true });
    pskDigest = presharedKeyDigest(bytes);
    presharedKey = pskDigest === undefined ? undefined : toBase64(bytes);
  }
  const out: NormalizedPeer = { publicKey, allowedIps: [...allowed].sort(), persistentKeepalive: keepalive, pskDigest };
  if (presharedKey !== undefined) out.presharedKey = presharedKey;
  if (endpoint !== undefined) out.endpoint = endpoint;
  return out;
}

export interface NormalizedChanges {
  upsert: NormalizedPeer[];
  remove: string[];
}

/** Validate a whole batch before any of it is applied; a key may appear once across upsert and remove. */
export function normalizeChanges(changes: PeerChanges): NormalizedChanges {
  if (typeof changes !== 'object' || changes === null || !Array.isArray(changes.upsert) || !Array.isArray(changes.remove)) {
    throw new DammError('invalid_argument', 'changes must be { upsert: PeerSpec[], remove: string[] }.');
  }
  const seen = new Set<string>();
  const once = (key: string): void => {
    if (seen.has(key)) throw new DammError('invalid_argument', `peer ${key} appears more than once in one batch.`);
    seen.add(key);
  };
  const upsert = changes.upsert.map((p, i) => normalizePeerSpec(p, `upsert[${i}]`));
  for (const p of upsert) once(p.publicKey);
  const remove = changes.remove.map((k, i) => canonicalPublicKey(k, `remove[${i}]`));
  for (const k of remove) once(k);
  return { upsert, remove };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x)) && s.size === new Set(b).size;
}

/** True when `actual` is exactly what upserting `want` produces. */
export function peerMatches(want: NormalizedPeer, actual: PeerState | undefined): boolean {
  if (!actual) return false;
  return (
    sameSet(want.allowedIps, actual.allowedIps) &&
    want.persistentKeepalive === actual.persistentKeepalive &&
    want.pskDigest === actual.presharedKeyDigest &&
    (want.endpoint === undefined || want.endpoint === actual.endpoint)
  );
}

export function peersByKey(state: InterfaceState): Map<string, PeerState> {
  return new Map(state.peers.map((p) => [p.publicKey, p]));
}

/** The smallest change set turning `actual` into `desired` (already normalised, unique keys). */
export function diffPeers(desired: NormalizedPeer[], actual: InterfaceState): NormalizedChanges {
  const have = peersByKey(actual);
  const want = new Set(desired.map((p) => p.publicKey));
  return {
    upsert: desired.filter((p) => !peerMatches(p, have.get(p.publicKey))),
    remove: actual.peers.map((p) => p.publicKey).filter((k) => !want.has(k)),
  };
}

/** Validate a desired full set: every key once. */
export function normalizeDesired(peers: PeerSpec[]): NormalizedPeer[] {
  if (!Array.isArray(peers)) throw new DammError('invalid_argument', 'peers must be an array.');
  const out = peers.map((p, i) => normalizePeerSpec(p, `peers[${i}]`));
  const seen = new Set<string>();
  for (const p of out) {
    if (seen.has(p.publicKey)) throw new DammError('invalid_argument', `peer ${p.publicKey} appears more than once.`);
    seen.add(p.publicKey);
  }
  return out;
}
