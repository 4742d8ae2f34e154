import type { Db, Tx } from '../store/db.js';
import type { Config } from './config.js';
import type { Clock } from '../core/clock.js';
import type { KeyRing } from './keyring.js';
import type { ParsedPools } from '../core/ipam.js';
import type { Metrics } from './metrics.js';
import type { Logger } from 'pino';
import type { FeedService } from './services/feed.js';

/** A device as the rest of the system sees it after a change. */
export interface DeviceRow {
  id: string;
  public_key: string;
  address_offset: number;
  ipv4: string;
  ipv6: string;
  tier: string;
  region: string;
  exit_country: string;
  scope: string;
  gateway_id: string | null;
  state: 'active' | 'suspended' | 'revoked';
  state_reason: string | null;
  created_at: Date;
}

/**
 * What gateways must hold follows every device change: the services that
 * admit or remove a device call these inside their transaction, so the
 * admission record on the feed commits atomically with the change itself
 * (services/admissions.ts, AdmissionIssuer).
 */
export interface Admissions {
  deviceAdmitted(tx: Tx, device: DeviceRow): Promise<void>;
  deviceRemoved(tx: Tx, device: DeviceRow, reason: string): Promise<void>;
}

export interface Ctx {
  db: Db;
  config: Config;
  clock: Clock;
  keys: KeyRing;
  pools: ParsedPools;
  metrics: Metrics;
  log: Logger;
  storeKind: 'postgres' | 'embedded-postgres';
  version: string;
  /** Admission records for device changes, on the gateway feed. */
  admissions: Admissions;
  /** The gateway change feed: sequencer, LISTEN wake-ups, long-poll waiters. */
  feed: FeedService;
}
