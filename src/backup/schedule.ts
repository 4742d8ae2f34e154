/**
 * Scheduled backups inside `damm serve`, active only when DAMM_BACKUP_DIR is
 * set:
 *
 *   DAMM_BACKUP_DIR             where archives go (damm-backup-<UTC time>.age)
 *   DAMM_BACKUP_RECIPIENTS      age recipients, comma or space separated (required)
 *   DAMM_BACKUP_INTERVAL_HOURS  default 24 (fractions allowed)
 *   DAMM_BACKUP_RETAIN          how many archives to keep, default 7
 *
 * A backup is due when the newest archive in the directory is older than
 * the interval (so a restart does not reset the clock). With several
 * control-plane processes, an advisory lock lets one of them take it.
 * Misconfiguration refuses to start the process, with the variable named.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { DammError } from '../core/errors.js';
import type { ControlPlaneExtension } from '../control-plane/extensions.js';
import type { Ctx } from '../control-plane/context.js';
import { checkRecipients, createBackup, kib } from './backup.js';

export const BACKUP_PREFIX = 'damm-backup-';
export const BACKUP_SUFFIX = '.age';

export interface ScheduleConfig {
  dir: string;
  recipients: string[];
  intervalMs: number;
  retain: number;
}

export function scheduleConfigFromEnv(env: NodeJS.ProcessEnv): ScheduleConfig | null {
  const dir = env.DAMM_BACKUP_DIR?.trim();
  if (!dir) {
    if (env.DAMM_BACKUP_RECIPIENTS || env.DAMM_BACKUP_INTERVAL_HOURS || env.DAMM_BACKUP_RETAIN) {
      throw new DammError('config_invalid', 'DAMM_BACKUP_RECIPIENTS / _INTERVAL_HOURS / _RETAIN are set but DAMM_BACKUP_DIR is not; set it to enable scheduled backups.');
    }
    return null;
  }
  const recipients = (env.DAMM_BACKUP_RECIPIENTS ?? '').split(/[\s,]+/).filter(Boolean);
  if (recipients.length === 0) throw new DammError('config_invalid', 'DAMM_BACKUP_DIR is set but DAMM_BACKUP_RECIPIENTS is empty: name the age recipient(s) backups are encrypted to.');
  try {
    checkRecipients(recipients);
  } catch (err) {
    throw new DammError('config_invalid', `DAMM_BACKUP_RECIPIENTS: ${(err as Error).message}`);
  }
  const hours = env.DAMM_BACKUP_INTERVAL_HOURS ? Number(env.DAMM_BACKUP_INTERVAL_HOURS) : 24;
  if (!Number.isFinite(hours) || hours <= 0 || hours > 24 * 366) throw new DammError('config_invalid', 'DAMM_BACKUP_INTERVAL_HOURS must be a number of hours greater than 0.');
  const retain = env.DAMM_BACKUP_RETAIN ? Number(env.DAMM_BACKUP_RETAIN) : 7;
  if (!Number.isInteger(retain) || retain < 1) throw new DammError('config_invalid', 'DAMM_BACKUP_RETAIN must be a whole number of at least 1.');
  return { dir: path.resolve(dir), recipients, intervalMs: hours * 3600_000, retain };
}

export function backupFileName(at: Date): string {
  return `${BACKUP_PREFIX}${at.toISOString().replace(/[-:]/g, '').replace(/\.(\d{3})Z$/, '$1Z')}${BACKUP_SUFFIX}`;
}

/** Archives in `dir`, oldest first (names sort by time). */
export async function listBackups(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(BACKUP_PREFIX) && n.endsWith(BACKUP_SUFFIX)).sort();
}

export async function pruneBackups(dir: string, retain: number): Promise<string[]> {
  const all = await listBackups(dir);
  const drop = all.slice(0, Math.max(0, all.length - retain));
  for (const n of drop) await rm(path.join(dir, n), { force: true });
  return drop;
}

/** Runs one scheduled backup if it is due; returns the file written, or null. */
export async function runScheduledBackup(ctx: Ctx, cfg: ScheduleConfig): Promise<string | null> {
  const now = ctx.clock.now();
  const existing = await listBackups(cfg.dir);
  const newest = existing[existing.length - 1];
  if (newest) {
    const age = Date.now() - (await stat(path.join(cfg.dir, newest))).mtimeMs;
    if (age < cfg.intervalMs * 0.95) return null;
  }
  const out = path.join(cfg.dir, backupFileName(now));
  const res = await createBackup({ db: ctx.db, dataDir: ctx.config.dataDir, recipients: cfg.recipients, out, now, skipIfLocked: true });
  if (!res) return null;
  const pruned = await pruneBackups(cfg.dir, cfg.retain);
  ctx.log.info({ component: 'backup', file: res.file, bytes: res.bytes, size: kib(res.bytes), rows: res.manifest.totals.rows, pruned: pruned.length }, 'scheduled backup written');
  return res.file;
}

export function scheduledBackups(opts: { env?: NodeJS.ProcessEnv; checkEveryMs?: number } = {}): ControlPlaneExtension {
  return {
    name: 'scheduled-backups',
    async start(ctx) {
      const cfg = scheduleConfigFromEnv(opts.env ?? process.env);
      if (!cfg) return async () => {};
      ctx.log.info({ component: 'backup', dir: cfg.dir, intervalHours: cfg.intervalMs / 3600_000, retain: cfg.retain, recipients: cfg.recipients.length }, 'scheduled backups enabled');
      let running: Promise<unknown> = Promise.resolve();
      let busy = false;
      const tick = () => {
        if (busy) return;
        busy = true;
        running = runScheduledBackup(ctx, cfg)
          .catch((err) => ctx.log.error({ component: 'backup', err }, 'scheduled backup failed'))
          .finally(() => {
            busy = false;
          });
      };
      const every = opts.checkEveryMs ?? Math.min(60_000, Math.max(1000, cfg.intervalMs / 10));
      const timer = setInterval(tick, every);
      timer.unref();
      tick();
      return async () => {
        clearInterval(timer);
        await running;
      };
    },
  };
}
