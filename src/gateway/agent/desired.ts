/**
 * What the gateway's interface must hold: the verified admission records of
 * its scope, keyed by device. Pure (time passed in): every record is checked
 * with core/admission's `verifyAdmission` BEFORE it can become a peer, and a
 * refused record changes nothing.
 *
 * Beyond the per-record checks, the set as a whole enforces:
 * - one holder per tunnel address (a record claiming another key's address is refused);
 * - no rollback: an older record for a device never replaces a newer one;
 * - revocations stick: a revoked device is not re-admitted by a record issued
 *   before the revocation (replayed from a captured feed), for as long as such
 *   a record could still be valid;
 * - expiry on the gateway's own clock, also while the control plane is unreachable.
 */
import {
  MAX_ADMISSION_WINDOW_SECONDS,
  verifyAdmission,
  verifyRevocation,
  type AdmissionRecord,
  type GatewayTrust,
  type RefusalReason,
} from '../../core/admission.js';
import type { Ed25519 } from '../../core/ed25519.js';
import type { Envelope } from '../../core/envelope.js';
import type { PeerSpec } from '../wireguard/backend.js';

export interface DesiredPeer {
  deviceId: string;
  publicKey: string;
  allowedIps: string[];
  notBefore: number;
  notAfter: number;
  envelope: Envelope;
}

export type AgentRefusal = RefusalReason | 'revoked' | 'stale';

export interface Refusal {
  deviceId: string;
  kind: 'upsert' | 'remove';
  reason: AgentRefusal;
  message: string;
}

export interface RawEvent {
  deviceId: string;
  kind: 'upsert' | 'remove';
  envelope: unknown;
}

/** Peer-level effect of applying events: what to upsert and what to remove on the interface. */
export interface PeerDelta {
  upsert: Map<string, PeerSpec>;
  remove: Set<string>;
}

export function emptyDelta(): PeerDelta {
  return { upsert: new Map(), remove: new Set() };
}

export function deltaSize(d: PeerDelta): number {
  return d.upsert.size + d.remove.size;
}

function addUpsert(d: PeerDelta, p: DesiredPeer): void {
  d.remove.delete(p.publicKey);
  d.upsert.set(p.publicKey, { publicKey: p.publicKey, allowedIps: p.allowedIps });
}

function addRemove(d: PeerDelta, publicKey: string): void {
  d.upsert.delete(publicKey);
  d.remove.add(publicKey);
}

export class DesiredSet {
  private readonly byDevice = new Map<string, DesiredPeer>();
  private readonly byAddress = new Map<string, string>(); // "ip/len" -> publicKey
  private readonly byKey = new Map<string, string>(); // publicKey -> deviceId
  /** deviceId -> revokedAt (ms); pruned once no record from before it can still be valid. */
  private readonly tombstones = new Map<string, number>();

  private readonly trustAt: (now: Date) => GatewayTrust;

  /**
   * `trust` is fixed, or a function giving the trust to verify with at an
   * instant (a pinned agent: the admission keys of its verified root that are
   * valid then), asked at every verification.
   */
  constructor(
    trust: GatewayTrust | ((now: Date) => GatewayTrust),
    private readonly ed?: Ed25519,
  ) {
    this.trustAt = typeof trust === 'function' ? trust : () => trust;
  }

  get size(): number {
    return this.byDevice.size;
  }

  peers(): PeerSpec[] {
    return [...this.byDevice.values()].map((p) => ({ publicKey: p.publicKey, allowedIps: p.allowedIps }));
  }

  /** Whether some held record admits this WireGuard key. */
  holdsKey(publicKey: string): boolean {
    return this.byKey.has(publicKey);
  }

  records(): DesiredPeer[] {
    return [...this.byDevice.values()];
  }

  tombstoneList(): [string, number][] {
    return [...this.tombstones.entries()];
  }

  restoreTombstones(list: readonly [string, number][]): void {
    for (const [id, at] of list) if (typeof id === 'string' && Number.isFinite(at)) this.tombstones.set(id, at);
  }

  /** Applies one feed event. Returns a refusal (and changes nothing) or null. */
  apply(ev: RawEvent, now: Date, delta: PeerDelta): Refusal | null {
    return ev.kind === 'upsert' ? this.upsert(ev, now, delta) : this.remove(ev, now, delta);
  }

  private upsert(ev: RawEvent, now: Date, delta: PeerDelta): Refusal | null {
    const v = verifyAdmission(ev.envelope, this.trustAt(now), now, {
      addressHolder: (p) => this.byAddress.get(p),
      ...(this.ed ? { ed: this.ed } : {}),
    });
    const refuse = (reason: AgentRefusal, message: string): Refusal => ({ deviceId: ev.deviceId, kind: 'upsert', reason, message });
    if (!v.ok) return refuse(v.reason, v.message);
    const r: AdmissionRecord = v.record;
    if (r.deviceId !== ev.deviceId) return refuse('malformed', `event names device ${ev.deviceId} but the record is for ${r.deviceId}`);
    const notBefore = Date.parse(r.notBefore);
    const revokedAt = this.tombstones.get(r.deviceId);
    if (revokedAt !== undefined && notBefore <= revokedAt) return refuse('revoked', `device was revoked at ${new Date(revokedAt).toISOString()}, after this record was issued`);
    const cur = this.byDevice.get(r.deviceId);
    if (cur && cur.notBefore > notBefore) return refuse('stale', `a newer record (from ${new Date(cur.notBefore).toISOString()}) is already held`);
    // Another device with the same key cannot happen with one control plane; refuse rather than merge.
    const keyHolder = this.byKey.get(r.publicKey);
    if (keyHolder !== undefined && keyHolder !== r.deviceId) return refuse('address_taken', `public key already admitted for device ${keyHolder}`);
    if (cur) this.drop(cur, delta);
    const peer: DesiredPeer = { deviceId: r.deviceId, publicKey: r.publicKey, allowedIps: r.allowedIps, notBefore, notAfter: Date.parse(r.notAfter), envelope: ev.envelope as Envelope };
    this.add(peer, delta);
    return null;
  }

  private remove(ev: RawEvent, now: Date, delta: PeerDelta): Refusal | null {
    const v = verifyRevocation(ev.envelope, this.trustAt(now), this.ed ? { ed: this.ed } : {});
    if (!v.ok) return { deviceId: ev.deviceId, kind: 'remove', reason: v.reason, message: v.message };
    const r = v.record;
    if (r.deviceId !== ev.deviceId) return { deviceId: ev.deviceId, kind: 'remove', reason: 'malformed', message: `event names device ${ev.deviceId} but the revocation is for ${r.deviceId}` };
    const at = Date.parse(r.revokedAt);
    this.tombstones.set(r.deviceId, Math.max(at, this.tombstones.get(r.deviceId) ?? 0));
    const cur = this.byDevice.get(r.deviceId);
    if (cur) this.drop(cur, delta);
    return null;
  }

  private add(p: DesiredPeer, delta: PeerDelta): void {
    this.byDevice.set(p.deviceId, p);
    this.byKey.set(p.publicKey, p.deviceId);
    for (const ip of p.allowedIps) this.byAddress.set(ip, p.publicKey);
    addUpsert(delta, p);
  }

  private drop(p: DesiredPeer, delta: PeerDelta): void {
    this.byDevice.delete(p.deviceId);
    if (this.byKey.get(p.publicKey) === p.deviceId) this.byKey.delete(p.publicKey);
    for (const ip of p.allowedIps) if (this.byAddress.get(ip) === p.publicKey) this.byAddress.delete(ip);
    addRemove(delta, p.publicKey);
  }

  /**
   * Re-verifies every held record with the trust in force at `now` (after a
   * root update: a revoked admission key stops counting for what is already
   * on the interface, as it would at a restart). Drops and returns the ones
   * that no longer pass.
   */
  recheck(now: Date, delta: PeerDelta): { peer: DesiredPeer; reason: AgentRefusal }[] {
    const trust = this.trustAt(now);
    const gone: { peer: DesiredPeer; reason: AgentRefusal }[] = [];
    for (const p of [...this.byDevice.values()]) {
      const v = verifyAdmission(p.envelope, trust, now, {
        addressHolder: (prefix) => this.byAddress.get(prefix),
        ...(this.ed ? { ed: this.ed } : {}),
      });
      if (v.ok) continue;
      this.drop(p, delta);
      gone.push({ peer: p, reason: v.reason });
    }
    return gone;
  }

  /** Removes records whose notAfter has passed, and tombstones nothing can outlive. */
  expire(now: Date, delta: PeerDelta): DesiredPeer[] {
    const t = now.getTime();
    const gone: DesiredPeer[] = [];
    for (const p of [...this.byDevice.values()]) {
      if (p.notAfter <= t) {
        this.drop(p, delta);
        gone.push(p);
      }
    }
    for (const [id, at] of this.tombstones) if (at + MAX_ADMISSION_WINDOW_SECONDS * 1000 < t) this.tombstones.delete(id);
    return gone;
  }

  /** The earliest notAfter, for scheduling the next expiry check. */
  nextExpiry(): number | null {
    let min: number | null = null;
    for (const p of this.byDevice.values()) if (min === null || p.notAfter < min) min = p.notAfter;
    return min;
  }

  /** Forgets every record (before loading a snapshot); tombstones stay. */
  clear(delta: PeerDelta): void {
    for (const p of [...this.byDevice.values()]) this.drop(p, delta);
  }
}
