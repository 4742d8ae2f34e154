/** An in-memory WireGuard interface with the backend contract (validation, replace semantics, counters), for agent logic tests. */
import type { ApplySummary, InterfaceState, PeerChanges, PeerSpec, PeerState, WireGuardBackend } from '../../src/gateway/wireguard/backend.js';
import { diffPeers, normalizeChanges, normalizeDesired, type NormalizedChanges } from '../../src/gateway/wireguard/peers.js';
import { parseSecretKey, publicKeyFromPrivate } from '../../src/gateway/wireguard/keys.js';

export class FakeBackend implements WireGuardBackend {
  readonly name = 'fake';
  peers = new Map<string, PeerState>();
  publicKey: string | undefined;
  listenPort = 0;
  applyCalls = 0;
  closed = false;

  async configureInterface(opts: { privateKey: string; listenPort: number }): Promise<void> {
    this.publicKey = publicKeyFromPrivate(parseSecretKey(opts.privateKey, 'privateKey'));
    this.listenPort = opts.listenPort;
  }

  async listPeers(): Promise<InterfaceState> {
    return {
      ...(this.publicKey ? { publicKey: this.publicKey } : {}),
      listenPort: this.listenPort,
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
  }

  keys(): string[] {
    return [...this.peers.keys()].sort();
  }
}
