/**
 * A throwaway database per benchmark on the Postgres at 127.0.0.1:5432 (trust
 * auth, as on development and CI machines; override with DAMM_BENCH_PG_URL).
 * Names carry the creating process's pid so a later run drops what a crashed
 * run left behind without touching a concurrent run's databases.
 */
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { createPool, type Db } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';
import { pidAlive } from '../../src/io/process.js';

export const ADMIN_URL = process.env['DAMM_BENCH_PG_URL'] ?? process.env['DAMM_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PREFIX = 'damm_bench_';

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
  } catch (cause) {
    throw new Error(`benchmarks need a Postgres at ${ADMIN_URL} (set DAMM_BENCH_PG_URL): ${(cause as Error).message}`);
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function postgresVersion(): Promise<string> {
  return admin(async (c) => (await c.query<{ v: string }>('SELECT version() AS v')).rows[0]!.v);
}


/** Drops benchmark databases whose creating process is gone. */
export async function sweepStaleDatabases(): Promise<string[]> {
  return admin(async (c) => {
    const r = await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${PREFIX}%`]);
    const dropped: string[] = [];
    for (const { datname } of r.rows) {
      const owner = parseInt(datname.slice(PREFIX.length).split('_')[0] ?? '', 36);
      if (!Number.isFinite(owner) || pidAlive(owner)) continue;
      await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => {});
      dropped.push(datname);
    }
    return dropped;
  });
}

export interface BenchDatabase {
  name: string;
  url: string;
  /** The benchmark's own pool (seeding, checks); the control plane opens its own. */
  db: Db;
  drop(): Promise<void>;
}

const live = new Set<string>();

export async function createBenchDatabase(poolSize = 4): Promise<BenchDatabase> {
  const name = `${PREFIX}${process.pid.toString(36)}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  live.add(name);
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const db = createPool(url, poolSize);
  await migrate(db);
  let dropped = false;
  return {
    name,
    url,
    db,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await db.end().catch(() => {});
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      live.delete(name);
    },
  };
}

/** Pids of the Postgres backends connected to a database (for CPU accounting). */
export async function backendPids(db: Db, database: string): Promise<number[]> {
  const r = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [database]);
  return r.rows.map((x) => x.pid);
}

/** Best-effort synchronous-ish cleanup when the run is interrupted. */
export async function dropAllLive(): Promise<void> {
  for (const name of [...live]) {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => {});
    live.delete(name);
  }
}
