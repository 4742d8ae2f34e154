/**
 * The port every WireGuard backend implements (wireguard-go and amneziawg-go
 * over UAPI, kernel WireGuard through `wg`). The gateway agent's reconcile
 * loop talks only to this interface; it imports nothing but types.
 *
 * Contract shared by all backends:
 * - Keys are standard base64 here, whatever the wire spelling is.
 * - Input is validated and canonicalised before anything touches the
 *   interface; invalid input throws `invalid_argument` / `invalid_public_key`
 *   and changes nothing.
 * - Calls on one backend are serialised (one operation at a time, in call
 *   order), so concurrent callers cannot interleave a read-back and a write.
 * - WireGuard applies a batch peer by peer, not atomically. When it rejects a
 *   peer, the backend isolates the culprit(s), still applies every other
 *   change, reads the interface back and throws a `DammError` whose
 *   `details` is an `ApplyFailureDetails`. The next call works normally.
 * - A daemon that does not answer makes the call fail after a timeout; it
 *   never hangs the agent.
 * - No secret (private or preshared key) is ever returned, logged or put in
 *   an error: read-backs carry a digest of a preshared key instead.
 */
import type { AwgParams } from '../../core/amneziawg.js';

export interface PeerSpec {
  /** Base64 X25519 public key. */
  publicKey: string;
  /** CIDR prefixes routed to this peer; canonicalised ("10.0.0.7" → "10.0.0.7/32", host bits cleared). */
  allowedIps: string[];
  /** Base64 preshared key. Omitted means none: an upsert clears an existing one. */
  presharedKey?: string;
  /** Seconds, 1..65535. Omitted or 0 means off: an upsert clears an existing one. */
  persistentKeepalive?: number;
  /**
   * "ip:port" / "[ip6]:port" to dial. Omitted means "leave it": a gateway
   * lets clients roam and never sets this; tests and gateway-to-gateway links do.
   */
  endpoint?: string;
}

export interface PeerState {
  publicKey: string;
  /** Canonical prefixes, in the order the interface reports them. */
  allowedIps: string[];
  /** Digest of the preshared key (see keys.ts), absent when the peer has none. Never the key. */
  presharedKeyDigest?: string;
  /** Seconds; 0 = off. */
  persistentKeepalive: number;
  endpoint?: string;
  /** Unix epoch milliseconds of the latest handshake; 0 = never. */
  lastHandshakeMs: number;
  rxBytes: bigint;
  txBytes: bigint;
}

export interface InterfaceState {
  /** Derived from the interface's private key; absent while none is set. */
  publicKey?: string;
  /** 0 while the interface has not bound a port. */
  listenPort: number;
  /**
   * AmneziaWG parameters the daemon reports (amneziawg-go only; absent for
   * WireGuard). As read, not validated: a fresh amneziawg-go reports
   * h1..h4 = 1..4 and omits zero values (read back as 0) and an empty I1
   * (null). Compare with `awgParamsEqual` (core/amneziawg.ts).
   */
  awg?: AwgParams;
  peers: PeerState[];
}

export interface PeerChanges {
  /** Peers to create or set exactly to this spec (allowed IPs are replaced, not merged). */
  upsert: PeerSpec[];
  /** Base64 public keys to remove; removing an absent peer is not an error. */
  remove: string[];
}

export interface ApplySummary {
  upserted: number;
  removed: number;
}

/** `details` of the DammError thrown when WireGuard rejected part of a batch. */
export interface ApplyFailureDetails {
  backend: string;
  /** Changes WireGuard refused, each isolated to one peer, with the daemon's reason. */
  rejected: Array<{ publicKey: string; action: 'upsert' | 'remove'; reason: string }>;
  /**
   * Every change the read-back shows is not in effect: normally the rejected
   * ones (a rejected upsert may leave its peer half-configured) and any
   * abandoned after `maxRejected` failures.
   */
  notApplied: Array<{ publicKey: string; action: 'upsert' | 'remove' }>;
  /** Changes the read-back shows in effect. */
  applied: number;
}

export interface InterfaceConfig {
  privateKey: string;
  listenPort: number;
  /** AmneziaWG door parameters: amneziawg-go only. */
  awg?: AwgParams;
}

export interface WireGuardBackend {
  /** "uapi", "wg-tool", ... for logs and metrics. */
  readonly name: string;
  /**
   * Set the interface's private key (base64, never logged) and UDP listen
   * port (0 = any), and for an AmneziaWG door its parameters (validated
   * first; a backend that cannot carry them refuses with invalid_argument).
   */
  configureInterface(opts: InterfaceConfig): Promise<void>;
  /** Full read-back of the interface: its public key, port, every peer with counters. */
  listPeers(): Promise<InterfaceState>;
  /** Apply a batch: removals first, then upserts, chunked into large requests. */
  applyPeers(changes: PeerChanges): Promise<ApplySummary>;
  /**
   * Make the interface hold exactly `peers` (cold start, drift repair): read
   * back, diff, and apply only the difference. Returns what it changed.
   */
  replacePeers(peers: PeerSpec[]): Promise<ApplySummary>;
  /** Refuse further calls once the queued ones finish. Does not touch the interface. */
  close(): Promise<void>;
}
