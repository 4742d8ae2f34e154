/**
 * The small port every proxy door server sits behind (STYLE.md lesson 9):
 * desired set in, actual set and byte counters out. outline-ss-server
 * (Shadowsocks, T2/T3) and Xray (VLESS, T3) implement it; the agent can
 * reconcile them the same way it reconciles WireGuard peers. Types only.
 */

/** One device's credential on one door: an opaque id and its secret (Shadowsocks key or VLESS UUID). */
export interface ProxyUser {
  /** Stable, non-secret id (the agent uses the device id); it labels the server's counters. */
  id: string;
  /** The credential opened from the sealed admission field. Never logged, never put in an error. */
  secret: string;
}

export interface ProxyCounters {
  /** Bytes the device sent (client → proxy). */
  rxBytes: bigint;
  /** Bytes sent to the device (proxy → client). */
  txBytes: bigint;
}

export interface ProxyServer {
  /** Start the server holding `initial`; resolves once it serves. */
  start(initial: readonly ProxyUser[]): Promise<void>;
  /**
   * Make the server hold exactly `desired`, without dropping the connections
   * of users that stay. Resolves once the server confirmed the change;
   * invalid input throws `invalid_argument` and changes nothing.
   */
  apply(desired: readonly ProxyUser[]): Promise<void>;
  /** Ids of the users the running server really holds (for drift repair). */
  actual(): Promise<string[]>;
  /** Cumulative bytes per user id, from the server's own counters. */
  counters(): Promise<Map<string, ProxyCounters>>;
  stop(): Promise<void>;
}
