/**
 * Per-peer byte counters turned into deltas for the heartbeat.
 *
 * WireGuard's counters are cumulative since the peer was created on the
 * interface; they restart at zero when the interface restarts or the peer is
 * removed and added again. Each observation adds (current - last observed),
 * or current when it went down (a reset), to a pending delta; a heartbeat
 * reports pending deltas and they are cleared only once the control plane
 * acknowledged them. Observing often (every reconcile tick, not just every
 * heartbeat) keeps what a reset can lose to the traffic between the last
 * observation and the reset.
 */

export interface CounterSample {
  publicKey: string;
  rxBytes: bigint;
  txBytes: bigint;
}

export interface MeterEntry {
  lastRx: bigint;
  lastTx: bigint;
  pendingRx: bigint;
  pendingTx: bigint;
}

export interface MeterReport {
  publicKey: string;
  rxDelta: number;
  txDelta: number;
}

export class Meter {
  private readonly entries = new Map<string, MeterEntry>();

  /** Takes a full read-back. Peers no longer present keep their pending bytes until reported. */
  observe(samples: readonly CounterSample[]): void {
    for (const s of samples) {
      const e = this.entries.get(s.publicKey);
      if (!e) {
        // First sight of this peer: everything it has counted is new.
        this.entries.set(s.publicKey, { lastRx: s.rxBytes, lastTx: s.txBytes, pendingRx: s.rxBytes, pendingTx: s.txBytes });
        continue;
      }
      e.pendingRx += s.rxBytes >= e.lastRx ? s.rxBytes - e.lastRx : s.rxBytes;
      e.pendingTx += s.txBytes >= e.lastTx ? s.txBytes - e.lastTx : s.txBytes;
      e.lastRx = s.rxBytes;
      e.lastTx = s.txBytes;
    }
    const present = new Set(samples.map((s) => s.publicKey));
    for (const [k, e] of this.entries) {
      if (present.has(k)) continue;
      // Gone from the interface: if it comes back its counters start at zero.
      e.lastRx = 0n;
      e.lastTx = 0n;
      if (e.pendingRx === 0n && e.pendingTx === 0n) this.entries.delete(k);
    }
  }

  /** Non-zero pending deltas. */
  report(max = Infinity): MeterReport[] {
    const out: MeterReport[] = [];
    for (const [publicKey, e] of this.entries) {
      if (e.pendingRx === 0n && e.pendingTx === 0n) continue;
      out.push({ publicKey, rxDelta: Number(e.pendingRx), txDelta: Number(e.pendingTx) });
      if (out.length >= max) break;
    }
    return out;
  }

  /** The control plane counted `report`: subtract it (more may have been observed since). */
  acknowledge(report: readonly MeterReport[]): void {
    for (const r of report) {
      const e = this.entries.get(r.publicKey);
      if (!e) continue;
      e.pendingRx -= BigInt(r.rxDelta);
      e.pendingTx -= BigInt(r.txDelta);
      if (e.pendingRx < 0n) e.pendingRx = 0n;
      if (e.pendingTx < 0n) e.pendingTx = 0n;
    }
  }

  toJSON(): Record<string, [string, string, string, string]> {
    const out: Record<string, [string, string, string, string]> = {};
    for (const [k, e] of this.entries) out[k] = [String(e.lastRx), String(e.lastTx), String(e.pendingRx), String(e.pendingTx)];
    return out;
  }

  static fromJSON(value: unknown): Meter {
    const m = new Meter();
    if (typeof value !== 'object' || value === null) return m;
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (!Array.isArray(v) || v.length !== 4 || !v.every((x) => typeof x === 'string' && /^\d{1,20}$/.test(x))) continue;
      const [lastRx, lastTx, pendingRx, pendingTx] = (v as string[]).map((x) => BigInt(x)) as [bigint, bigint, bigint, bigint];
      m.entries.set(k, { lastRx, lastTx, pendingRx, pendingTx });
    }
    return m;
  }
}

/**
 * One heartbeat's peers from every lane's report: a device is one peer key on
 * several interfaces, so its bytes are summed over its lanes (the control
 * plane meters devices, not doors). Each lane's own report is what that
 * lane's Meter acknowledges.
 */
export function sumOverLanes(reports: Iterable<readonly MeterReport[]>): MeterReport[] {
  const byKey = new Map<string, MeterReport>();
  for (const report of reports) {
    for (const r of report) {
      const cur = byKey.get(r.publicKey);
      if (cur) {
        cur.rxDelta += r.rxDelta;
        cur.txDelta += r.txDelta;
      } else {
        byKey.set(r.publicKey, { ...r });
      }
    }
  }
  return [...byKey.values()];
}
