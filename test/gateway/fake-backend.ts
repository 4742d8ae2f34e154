/** An in-memory WireGuard interface with the backend contract (validation, replace semantics, counters), for agent logic tests. */
import type { ApplySummary, InterfaceConfig, InterfaceState, PeerChanges, PeerSpec, PeerState, WireGuardBackend } from '../../src/gateway/wireguard/backend.js';
import type { AwgParams } from '../../src/core/amneziawg.js';
import { diffPeers, normalizeChanges, normalizeDesired, type NormalizedChanges } from '../../src/gateway/wireguard/peers.js';
import { parseSecretKey, publicKeyFromPrivate } from '../../src/gateway/wireguard/keys.js';

export class FakeBackend implements WireGuardBackend {
  readonly name = 'fake';
  peers = new Map<string, PeerState>();
  publicKey: string | undefined;
  listenPort = 0;
  /** AmneziaWG parameters, when configured with them (an amneziawg-go interface). */
  awg: AwgParams | undefined;
  configureCalls = 0;
  applyCalls = 0;
  closed = false;

  async configureInterface(opts: InterfaceConfig): Promise<void> {
    this.publicKey = publicKeyFromPrivate(parseSecretKey(opts.privateKey, 'privateKey'));
    this.listenPort = opts.listenPort;
    if (opts.awg) this.awg = { ...opts.awg };
    this.configureCalls++;
  }

  async listPeers(): Promise<InterfaceState> {
    return {
      ...(this.publicKey ? { publicKey: this.publicKey } : {}),
      listenPort: this.listenPort,
      ...(this.awg ? { awg: { ...this.awg } } : {}),
      peers: [...this.peers.values()].map((p) => ({ ...p, allowedIps: [...p.allowedIps] })),
    };
  }

  private apply(c: NormalizedChanges): ApplySummary {
    this.applyCalls++;
    for (const k of c.remove) this.peers.delete(k);
    for (const p of c.upsert) {
      const cur = this.peers.get(p.publicKey);
      this.peers.set(p.publicKey, { publicKey: p.publicKey, allowedIps: [...p.allowedIps], persistentKeepalive: p.persistentKeepalive, lastHandshakeMs: 0, rxBytes: cur?.rxBytes ?? 0n, txBytes: cur?.txBytes ?? 0n });
    }
    return { upserted: c.upsert.length, removed: c.remove.length };
  }

  async applyPeers(changes: PeerChanges): Promise<ApplySummary> {
    return this.apply(normalizeChanges(changes));
  }

  async replacePeers(peers: PeerSpec[]): Promise<ApplySummary> {
    const desired = normalizeDesired(peers);
    return this.apply(diffPeers(desired, await this.listPeers()));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** A daemon restart: key, port, peers and counters gone. */
  restartDaemon(): void {
    this.peers.clear();
    this.publicKey = undefined;
    this.listenPort = 0;
    if (this.awg) this.awg = { jc: 0, jmin: 0, jmax: 0, s1: 0, s2: 0, s3: 0, s4: 0, h1: '1', h2: '2', h3: '3', h4: '4', i1: null }; // amneziawg-go's defaults
  }

  keys(): string[] {
    return [...this.peers.keys()].sort();
  }
}
