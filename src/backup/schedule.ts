/**
 * Scheduled backups inside `damm serve`: a job the control plane starts when
 * its configuration names a backup directory (the DAMM_BACKUP_* settings in
 * src/control-plane/config.ts, documented in docs/operations.md). The job
 * takes plain dependencies and knows nothing of the control plane.
 *
 * A backup is due when the newest archive in the directory is older than
 * the interval (so a restart does not reset the clock). With several
 * control-plane processes, an advisory lock lets one of them take it.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { DammError } from '../core/errors.js';
import type { Db } from '../store/db.js';
import { checkRecipients, createBackup, kib } from './backup.js';

export const BACKUP_PREFIX = 'damm-backup-';
export const BACKUP_SUFFIX = '.age';

export interface BackupScheduleSettings {
  /** Absolute directory the archives go to (damm-backup-<UTC time>.age). */
  dir: string;
  /** age recipients every archive is encrypted to. */
  recipients: string[];
  intervalMs: number;
  /** How many archives to keep. */
  retain: number;
}

export interface BackupJobDeps {
  db: Db;
  dataDir: string;
  clock: Clock;
  log: Logger;
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
export async function runScheduledBackup(deps: BackupJobDeps, settings: BackupScheduleSettings): Promise<string | null> {
  const now = deps.clock.now();
  const existing = await listBackups(settings.dir);
  const newest = existing[existing.length - 1];
  if (newest) {
    // File times are the machine's wall clock, so the age is measured against it.
    const age = Date.now() - (await stat(path.join(settings.dir, newest))).mtimeMs;
    if (age < settings.intervalMs * 0.95) return null;
  }
  const out = path.join(settings.dir, backupFileName(now));
  const res = await createBackup({ db: deps.db, dataDir: deps.dataDir, recipients: settings.recipients, out, now, skipIfLocked: true });
  if (!res) return null;
  const pruned = await pruneBackups(settings.dir, settings.retain);
  deps.log.info({ component: 'backup', file: res.file, bytes: res.bytes, size: kib(res.bytes), rows: res.manifest.totals.rows, pruned: pruned.length }, 'scheduled backup written');
  return res.file;
}

/**
 * Starts the job: refuses recipients age cannot encrypt to (before any timer
 * runs, so `damm serve` does not start with them), takes a backup at once if
 * one is due, then checks every tenth of the interval (1 s to 1 min).
 * Returns its stopper, which waits for a backup in progress.
 */
export function startBackupJob(deps: BackupJobDeps, settings: BackupScheduleSettings): () => Promise<void> {
  try {
    // Here rather than in the config schema: age-encryption is too heavy to load for every CLI command.
    checkRecipients(settings.recipients);
  } catch (err) {
    throw new DammError('config_invalid', `DAMM_BACKUP_RECIPIENTS: ${(err as Error).message}`);
  }
  deps.log.info({ component: 'backup', dir: settings.dir, intervalHours: settings.intervalMs / 3600_000, retain: settings.retain, recipients: settings.recipients.length }, 'scheduled backups enabled');
  let running: Promise<unknown> = Promise.resolve();
  let busy = false;
  const tick = () => {
    if (busy) return;
    busy = true;
    running = runScheduledBackup(deps, settings)
      .catch((err) => deps.log.error({ component: 'backup', err }, 'scheduled backup failed'))
      .finally(() => {
        busy = false;
      });
  };
  const timer = setInterval(tick, Math.min(60_000, Math.max(1000, settings.intervalMs / 10)));
  timer.unref();
  tick();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
