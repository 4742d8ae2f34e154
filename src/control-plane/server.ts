/**
 * Starts a control-plane process: store (DATABASE_URL or the embedded
 * Postgres), migrations, keys, the services (the gateway change feed and the
 * admission records on it, scheduled backups when configured), the HTTP app
 * and its housekeeping timers. `damm serve` and the tests build exactly this.
 */
import type { FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import pino from 'pino';
import { createPool, type Db } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { startEmbeddedStore, type EmbeddedStore } from '../store/embedded.js';
import { pruneAudit } from '../store/audit.js';
import { pruneCounters } from '../store/rate-limit.js';
import { pruneSessions } from './services/console-sessions.js';
import { parsePools } from '../core/ipam.js';
import { systemClock, type Clock } from '../core/clock.js';
import { buildApp, REDACT_PATHS } from './app.js';
import { backupSchedule, type Config } from './config.js';
import { startBackupJob } from '../backup/schedule.js';
import type { Ctx } from './context.js';
import { FeedService, type FeedServiceOptions } from './services/feed.js';
import { AdmissionIssuer, type AdmissionOptions } from './services/admissions.js';
import type { KeyRing } from './keyring.js';
import { TrustedKeyRing } from './trust/keyring.js';
import { startTrustMaintenance, trustTick, type TrustTick } from './trust/maintenance.js';
import { createMetrics } from './metrics.js';
import { isOnline, listGateways } from './services/gateways.js';
import { VERSION } from '../io/version.js';
import { checkPoolSettings } from './pool-settings.js';

export interface StoreHandle {
  db: Db;
  kind: 'postgres' | 'embedded-postgres';
  close(): Promise<void>;
}

export async function openStore(config: Config, log: (m: string) => void = () => {}, notice: (m: string) => void = log): Promise<StoreHandle> {
  let embedded: EmbeddedStore | null = null;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedStore(config.dataDir, log, notice);
    url = embedded.url;
  }
  const db = createPool(url, 16);
  await migrate(db);
  return {
    db,
    kind: embedded ? 'embedded-postgres' : 'postgres',
    close: async () => {
      await db.end();
      if (embedded) await embedded.stop();
    },
  };
}

export interface ControlPlaneOptions {
  config: Config;
  clock?: Clock;
  keys?: KeyRing;
  store?: StoreHandle;
  logStream?: DestinationStream;
  /** Feed sweep, retention and pruning intervals (tests shorten them). */
  feed?: FeedServiceOptions;
  /** Admission record validity and renewal schedule (tests shorten them). */
  admission?: AdmissionOptions;
  /** How often to look for a newly published root (default 2000 ms). Only with the root-aware key ring (no `keys` given). */
  trustReloadMs?: number;
}

export interface ControlPlane {
  app: FastifyInstance;
  ctx: Ctx;
  store: StoreHandle;
  /** The gateway change feed (tests kick the sequencer and prune through it). */
  feed: FeedService;
  /** Admission records (tests drive renewal and re-issue through it). */
  admissions: AdmissionIssuer;
  /** The root-aware key ring (null when fixed `keys` were injected). */
  trust: TrustedKeyRing | null;
  /** Picks up a newly published root now and re-signs the catalog if needed (what the timer does every few seconds). */
  refreshTrust(): Promise<TrustTick | null>;
  close(): Promise<void>;
}

export async function createControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const clock = opts.clock ?? systemClock;
  const log = pino({ level: opts.config.logLevel, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, opts.logStream);
  const ownStore = !opts.store;
  const store = opts.store ?? (await openStore(opts.config, (m) => log.debug({ component: 'embedded-postgres' }, m)));
  const pools = parsePools({ ipv4Cidr: opts.config.ipv4Pool, ipv6Prefix: opts.config.ipv6Prefix });
  await checkPoolSettings(store.db, opts.config);
  // Signs only with local key files that the latest published root certifies and that are valid now;
  // refuses to start when a role has none (docs/runbooks.md).
  const trust = opts.keys ? null : await TrustedKeyRing.load({ db: store.db, dataDir: opts.config.dataDir, clock });
  const keys: KeyRing = opts.keys ?? trust!;
  const feed = new FeedService({ db: store.db, clock, log }, opts.feed);
  const admissions = new AdmissionIssuer({ db: store.db, keys, clock, log, feed }, opts.admission);
  const ctx: Ctx = {
    db: store.db,
    config: opts.config,
    clock,
    keys,
    pools,
    metrics: createMetrics(),
    log,
    storeKind: store.kind,
    version: VERSION,
    admissions,
    feed,
  };
  ctx.metrics.watchGateways({
    now: () => clock.now(),
    gateways: async () => {
      const now = clock.now();
      return (await listGateways(ctx.db))
        .filter((g) => g.registered_at)
        .map((g) => ({ id: g.id, name: g.name, region: g.region, online: isOnline(ctx, g, now), lastHeartbeatAt: g.last_heartbeat_at }));
    },
  });
  const stoppers: (() => Promise<void>)[] = [];
  const backups = backupSchedule(opts.config);
  if (backups) {
    try {
      stoppers.push(startBackupJob({ db: store.db, dataDir: opts.config.dataDir, clock, log }, backups));
    } catch (err) {
      if (ownStore) await store.close();
      throw err;
    }
  }
  const app = await buildApp({ ctx, ...(opts.logStream ? { logStream: opts.logStream } : {}) });
  if (trust) stoppers.push(startTrustMaintenance(ctx, trust, { intervalMs: opts.trustReloadMs ?? 2000 }));
  await feed.start();
  admissions.start();
  stoppers.push(async () => {
    await admissions.stop();
    await feed.stop();
  });
  const housekeeping = setInterval(() => {
    const now = clock.now();
    void pruneAudit(store.db, new Date(now.getTime() - opts.config.auditRetentionDays * 86400_000)).catch((err) => log.warn({ err }, 'audit prune failed'));
    void pruneCounters(store.db, new Date(now.getTime() - 2 * 3600_000)).catch(() => {});
    void pruneSessions(store.db, now).catch((err) => log.warn({ err }, 'console session prune failed'));
  }, 10 * 60_000);
  housekeeping.unref();
  return {
    app,
    ctx,
    store,
    feed,
    admissions,
    trust,
    refreshTrust: async () => (trust ? trustTick(ctx, trust) : null),
    close: async () => {
      clearInterval(housekeeping);
      for (const stop of stoppers) await stop();
      await app.close();
      if (ownStore) await store.close();
    },
  };
}
