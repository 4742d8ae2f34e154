/**
 * Control-plane settings, read from the environment and validated by one
 * schema. Every setting has a safe default so `damm serve` runs with none.
 */
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import '../core/formats.js';
import { DammError } from '../core/errors.js';
import { parsePools } from '../core/ipam.js';
import { DEFAULT_SERVICE_TIERS, type ServiceTiers } from '../core/tiers.js';
import { FEED_MAX_WAIT_SECONDS } from '../core/feed-api.js';
import type { BackupScheduleSettings } from '../backup/schedule.js';

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ minLength: 1 }),
    databaseUrl: Type.Optional(Type.String({ minLength: 1 })),
    host: Type.String(),
    port: Type.Integer({ minimum: 0, maximum: 65535 }),
    publicUrl: Type.Optional(Type.String()),
    trustedProxies: Type.Array(Type.String()),
    publicMinting: Type.Boolean(),
    passTtlSeconds: Type.Integer({ minimum: 60 }),
    mintLimitPerHour: Type.Integer({ minimum: 1 }),
    mintSurgePerHour: Type.Integer({ minimum: 1 }),
    mintLimitIpv6Prefix: Type.Integer({ minimum: 16, maximum: 128 }),
    inviteTtlSeconds: Type.Integer({ minimum: 60 }),
    ipv4Pool: Type.String(),
    ipv6Prefix: Type.String(),
    dns: Type.Array(Type.String()),
    persistentKeepalive: Type.Integer({ minimum: 0, maximum: 3600 }),
    gatewayOfflineAfterSeconds: Type.Integer({ minimum: 5 }),
    gatewayTokenTtlSeconds: Type.Integer({ minimum: 60 }),
    catalogTtlSeconds: Type.Integer({ minimum: 300 }),
    auditRetentionDays: Type.Integer({ minimum: 1 }),
    consoleSessionIdleSeconds: Type.Integer({ minimum: 1 }),
    consoleSessionMaxSeconds: Type.Integer({ minimum: 1 }),
    bodyLimitBytes: Type.Integer({ minimum: 1024 }),
    headersTimeoutSeconds: Type.Integer({ minimum: 1 }),
    requestTimeoutSeconds: Type.Integer({ minimum: 1 }),
    keepAliveTimeoutSeconds: Type.Integer({ minimum: 1 }),
    socketIdleTimeoutSeconds: Type.Integer({ minimum: FEED_MAX_WAIT_SECONDS + 5 }),
    serviceTiers: Type.Record(Type.String(), Type.Object({ quotaBytes: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]) })),
    publicTier: Type.String(),
    defaultInviteTier: Type.String(),
    logLevel: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
    // Scheduled backups: off unless backupDir is set (checkBackupSettings holds the rules and their messages).
    backupDir: Type.Optional(Type.String({ minLength: 1 })),
    backupRecipients: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    backupIntervalHours: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 24 * 366 })),
    backupRetain: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type Config = Static<typeof ConfigSchema>;

export const DEFAULTS: Config = {
  dataDir: '.damm',
  host: '127.0.0.1',
  port: 8080,
  trustedProxies: [],
  publicMinting: true,
  passTtlSeconds: 15 * 60,
  mintLimitPerHour: 3,
  mintSurgePerHour: 500,
  // A household or a small ISP customer gets one /64; a farm of addresses inside it is one client.
  mintLimitIpv6Prefix: 64,
  inviteTtlSeconds: 7 * 86400,
  ipv4Pool: '10.66.0.0/16',
  ipv6Prefix: 'fd0d:a44d:66::/64',
  dns: ['9.9.9.9', '149.112.112.112'],
  persistentKeepalive: 25,
  gatewayOfflineAfterSeconds: 90,
  gatewayTokenTtlSeconds: 86400,
  catalogTtlSeconds: 7 * 86400,
  auditRetentionDays: 90,
  // Console sign-in sessions end after this long without a request, and at the latest this long after sign-in.
  consoleSessionIdleSeconds: 30 * 60,
  consoleSessionMaxSeconds: 12 * 3600,
  bodyLimitBytes: 16 * 1024,
  // A connection that has not sent its headers this long after opening (or a request whose
  // body has not all arrived after requestTimeoutSeconds) gets 408 and is closed.
  headersTimeoutSeconds: 10,
  requestTimeoutSeconds: 30,
  // Longer than nginx's default upstream keepalive_timeout (60 s), so a reverse proxy never
  // reuses a connection just as the control plane closes it.
  keepAliveTimeoutSeconds: 65,
  // No byte either way for this long closes the socket. Must exceed the feed long poll's
  // hold (FEED_MAX_WAIT_SECONDS), which sends nothing while it waits.
  socketIdleTimeoutSeconds: 60,
  serviceTiers: DEFAULT_SERVICE_TIERS,
  publicTier: 'public',
  defaultInviteTier: 'standard',
  logLevel: 'info',
};

/** Used when backupDir is set and these are not (absent rather than in DEFAULTS, so setting them alone is caught). */
export const BACKUP_DEFAULTS = { intervalHours: 24, retain: 7 } as const;

const ENV: Record<string, { key: keyof Config; parse: (v: string) => unknown }> = {
  DAMM_DATA_DIR: { key: 'dataDir', parse: String },
  DATABASE_URL: { key: 'databaseUrl', parse: String },
  DAMM_HOST: { key: 'host', parse: String },
  DAMM_PORT: { key: 'port', parse: Number },
  DAMM_PUBLIC_URL: { key: 'publicUrl', parse: String },
  DAMM_TRUSTED_PROXIES: { key: 'trustedProxies', parse: list },
  DAMM_PUBLIC_MINTING: { key: 'publicMinting', parse: bool },
  DAMM_PASS_TTL_SECONDS: { key: 'passTtlSeconds', parse: Number },
  DAMM_MINT_LIMIT_PER_HOUR: { key: 'mintLimitPerHour', parse: Number },
  DAMM_MINT_SURGE_PER_HOUR: { key: 'mintSurgePerHour', parse: Number },
  DAMM_MINT_LIMIT_IPV6_PREFIX: { key: 'mintLimitIpv6Prefix', parse: Number },
  DAMM_INVITE_TTL_SECONDS: { key: 'inviteTtlSeconds', parse: Number },
  DAMM_IPV4_POOL: { key: 'ipv4Pool', parse: String },
  DAMM_IPV6_PREFIX: { key: 'ipv6Prefix', parse: String },
  DAMM_DNS: { key: 'dns', parse: list },
  DAMM_PERSISTENT_KEEPALIVE: { key: 'persistentKeepalive', parse: Number },
  DAMM_GATEWAY_OFFLINE_AFTER_SECONDS: { key: 'gatewayOfflineAfterSeconds', parse: Number },
  DAMM_GATEWAY_TOKEN_TTL_SECONDS: { key: 'gatewayTokenTtlSeconds', parse: Number },
  DAMM_CATALOG_TTL_SECONDS: { key: 'catalogTtlSeconds', parse: Number },
  DAMM_AUDIT_RETENTION_DAYS: { key: 'auditRetentionDays', parse: Number },
  DAMM_CONSOLE_SESSION_IDLE_SECONDS: { key: 'consoleSessionIdleSeconds', parse: Number },
  DAMM_CONSOLE_SESSION_MAX_SECONDS: { key: 'consoleSessionMaxSeconds', parse: Number },
  DAMM_BODY_LIMIT_BYTES: { key: 'bodyLimitBytes', parse: Number },
  DAMM_HEADERS_TIMEOUT_SECONDS: { key: 'headersTimeoutSeconds', parse: Number },
  DAMM_REQUEST_TIMEOUT_SECONDS: { key: 'requestTimeoutSeconds', parse: Number },
  DAMM_KEEP_ALIVE_TIMEOUT_SECONDS: { key: 'keepAliveTimeoutSeconds', parse: Number },
  DAMM_SOCKET_IDLE_TIMEOUT_SECONDS: { key: 'socketIdleTimeoutSeconds', parse: Number },
  DAMM_SERVICE_TIERS: { key: 'serviceTiers', parse: (v) => JSON.parse(v) },
  DAMM_PUBLIC_TIER: { key: 'publicTier', parse: String },
  DAMM_DEFAULT_INVITE_TIER: { key: 'defaultInviteTier', parse: String },
  DAMM_LOG_LEVEL: { key: 'logLevel', parse: String },
  DAMM_BACKUP_DIR: { key: 'backupDir', parse: (v) => v.trim() || undefined },
  DAMM_BACKUP_RECIPIENTS: { key: 'backupRecipients', parse: (v) => v.split(/[\s,]+/).filter(Boolean) },
  DAMM_BACKUP_INTERVAL_HOURS: { key: 'backupIntervalHours', parse: Number },
  DAMM_BACKUP_RETAIN: { key: 'backupRetain', parse: Number },
};

function list(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}
function bool(v: string): boolean {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new Error(`expected true or false, got "${v}"`);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const fromEnv: Partial<Record<keyof Config, unknown>> = {};
  for (const [name, { key, parse }] of Object.entries(ENV)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    try {
      fromEnv[key] = parse(raw);
    } catch (cause) {
      throw new DammError('config_invalid', `${name} is not valid: ${(cause as Error).message}`, { cause });
    }
  }
  const config: Record<string, unknown> = { ...DEFAULTS, ...fromEnv, ...overrides };
  for (const k of Object.keys(config)) if (config[k] === undefined) delete config[k];
  return validateConfig(config);
}

export function validateConfig(config: unknown): Config {
  // Before the schema: these settings have messages naming their variables (docs/runbooks.md).
  if (typeof config === 'object' && config !== null) checkBackupSettings(config as Partial<Config>);
  if (!Value.Check(ConfigSchema, config)) {
    const first = [...Value.Errors(ConfigSchema, config)][0];
    throw new DammError('config_invalid', `Setting ${first?.path || '?'} is invalid: ${first?.message ?? 'unknown problem'}.`);
  }
  if (config.headersTimeoutSeconds > config.requestTimeoutSeconds) {
    // Node refuses a headers timeout longer than the whole-request timeout.
    throw new DammError('config_invalid', `DAMM_HEADERS_TIMEOUT_SECONDS (${config.headersTimeoutSeconds}) must not exceed DAMM_REQUEST_TIMEOUT_SECONDS (${config.requestTimeoutSeconds}).`);
  }
  if (config.consoleSessionIdleSeconds > config.consoleSessionMaxSeconds) {
    throw new DammError('config_invalid', `DAMM_CONSOLE_SESSION_IDLE_SECONDS (${config.consoleSessionIdleSeconds}) must not exceed DAMM_CONSOLE_SESSION_MAX_SECONDS (${config.consoleSessionMaxSeconds}).`);
  }
  parsePools({ ipv4Cidr: config.ipv4Pool, ipv6Prefix: config.ipv6Prefix });
  const tiers = config.serviceTiers as ServiceTiers;
  for (const t of [config.publicTier, config.defaultInviteTier]) {
    if (!tiers[t]) throw new DammError('config_invalid', `Service tier "${t}" is not defined in DAMM_SERVICE_TIERS.`);
  }
  return config;
}

/**
 * The scheduled-backup settings' rules: all or nothing around
 * DAMM_BACKUP_DIR, at least one recipient, a positive interval, a retention
 * of at least one archive. Misconfiguration refuses to start the process
 * with the variable named. Whether age can encrypt to each recipient is
 * checked when the job starts (startBackupJob), which `damm serve` does
 * before it listens.
 */
function checkBackupSettings(c: Partial<Config>): void {
  if (!c.backupDir) {
    if (c.backupRecipients?.length || c.backupIntervalHours !== undefined || c.backupRetain !== undefined) {
      throw new DammError('config_invalid', 'DAMM_BACKUP_RECIPIENTS / _INTERVAL_HOURS / _RETAIN are set but DAMM_BACKUP_DIR is not; set it to enable scheduled backups.');
    }
    return;
  }
  const recipients = c.backupRecipients ?? [];
  if (recipients.length === 0) throw new DammError('config_invalid', 'DAMM_BACKUP_DIR is set but DAMM_BACKUP_RECIPIENTS is empty: name the age recipient(s) backups are encrypted to.');
  const hours = c.backupIntervalHours ?? BACKUP_DEFAULTS.intervalHours;
  if (typeof hours !== 'number' || !Number.isFinite(hours) || hours <= 0 || hours > 24 * 366) {
    throw new DammError('config_invalid', 'DAMM_BACKUP_INTERVAL_HOURS must be a number of hours greater than 0.');
  }
  const retain = c.backupRetain ?? BACKUP_DEFAULTS.retain;
  if (!Number.isInteger(retain) || retain < 1) throw new DammError('config_invalid', 'DAMM_BACKUP_RETAIN must be a whole number of at least 1.');
}

/** The scheduled-backup job's settings, or null when scheduled backups are off. */
export function backupSchedule(config: Config): BackupScheduleSettings | null {
  if (!config.backupDir) return null;
  return {
    dir: path.resolve(config.backupDir),
    recipients: config.backupRecipients ?? [],
    intervalMs: (config.backupIntervalHours ?? BACKUP_DEFAULTS.intervalHours) * 3600_000,
    retain: config.backupRetain ?? BACKUP_DEFAULTS.retain,
  };
}
