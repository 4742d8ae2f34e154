/**
 * Two kinds of tier, both plain data:
 * - transport tiers of front doors (T0 plain WireGuard, T1 AmneziaWG, ...),
 *   ordered from least to most censorship-resistant;
 * - service tiers of devices (from the pass that enrolled them), each with a
 *   byte quota per period.
 */
export const TRANSPORT_TIERS = ['T0', 'T1', 'T2', 'T3', 'T4'] as const;
export type TransportTier = (typeof TRANSPORT_TIERS)[number];

export const TRANSPORT_TIER_NAMES: Record<TransportTier, string> = {
  T0: 'WireGuard (UDP)',
  T1: 'AmneziaWG (obfuscated UDP)',
  T2: 'WireGuard over TCP/TLS',
  T3: 'WireGuard over HTTPS/WebSocket',
  T4: 'Domain-fronted relay',
};

export interface ServiceTier {
  /** Bytes per period (rx + tx) before the device is suspended; null = unlimited. */
  quotaBytes: number | null;
}

export type ServiceTiers = Record<string, ServiceTier>;

export const DEFAULT_SERVICE_TIERS: ServiceTiers = {
  public: { quotaBytes: 10 * 1024 ** 3 },
  standard: { quotaBytes: 100 * 1024 ** 3 },
  unlimited: { quotaBytes: null },
};
