import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Db } from './db.js';
import { withTx } from './db.js';
import { DammError } from '../core/errors.js';

// Migrations ship as .sql next to the compiled code; both src/ (tsx) and dist/ (tsc) resolve here.
const MIGRATIONS_DIR = fileURLToPath(new URL('../../src/store/migrations/', import.meta.url));
const MIGRATION_LOCK = 0x44414d4d; // "DAMM": one process migrates at a time

export async function listMigrations(): Promise<{ version: number; name: string; file: string }[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return files.map((file) => ({ version: Number(file.slice(0, 4)), name: file.slice(5, -4), file: path.join(MIGRATIONS_DIR, file) }));
}

/** Applies pending migrations in order, each in its own transaction, under an advisory lock. */
export async function migrate(db: Db): Promise<number[]> {
  const applied: number[] = [];
  await withTx(db, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await tx.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const m of await listMigrations()) {
      if (done.has(m.version)) continue;
      const sql = await readFile(m.file, 'utf8');
      try {
        await tx.query(sql);
      } catch (cause) {
        throw new DammError('internal', `Migration ${m.version} (${m.name}) failed.`, { cause });
      }
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
  });
  return applied;
}
