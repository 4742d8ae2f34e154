/**
 * Each test file gets its own database on a real Postgres: the server at
 * DAMM_TEST_PG_URL (as in CI, where it must be reachable), else the one on
 * 127.0.0.1:5432 when present, else DAMM's embedded Postgres.
 */
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPool, type Db } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';
import { startEmbeddedStore } from '../../src/store/embedded.js';
import type { StoreHandle } from '../../src/control-plane/server.js';

const ADMIN_URL = process.env.DAMM_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

interface Admin {
  url: string;
  /** Stops the embedded fallback once the file's last database is closed (null for a real server). */
  release: (() => Promise<void>) | null;
}

// One admin server per test file: a file that opens several databases on the
// embedded fallback shares one Postgres, and the last close stops it so the
// file's process can exit.
let admin: Promise<Admin> | null = null;
let open = 0;

async function connectAdmin(): Promise<Admin> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.end();
    return { url: ADMIN_URL, release: null };
  } catch (err) {
    // In CI the real server is a prerequisite (.ci/run starts it): a missing
    // one must fail the run, not quietly move the tests onto another store.
    if (process.env.CI === 'true' || process.env.DAMM_TEST_PG_URL) {
      throw new Error(`The test Postgres at ${ADMIN_URL.replace(/:[^:@/]*@/, ':***@')} cannot be reached: ${(err as Error).message}`);
    }
    const dir = await mkdtemp(path.join(tmpdir(), 'damm-test-pg-'));
    const s = await startEmbeddedStore(dir);
    return { url: s.url.replace(/\/damm$/, '/postgres'), release: () => s.stop() };
  }
}

async function adminUrl(): Promise<string> {
  admin ??= connectAdmin();
  return (await admin).url;
}

async function releaseAdmin(): Promise<void> {
  if (--open > 0 || !admin) return;
  const a = await admin;
  if (!a.release) return;
  admin = null;
  await a.release();
}

export interface TestDatabase extends StoreHandle {
  url: string;
  name: string;
}

export async function createTestDatabase(opts: { poolSize?: number } = {}): Promise<TestDatabase> {
  const adminDb = await adminUrl();
  open++;
  const name = `damm_t_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: adminDb });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const url = adminDb.replace(/\/[^/]*$/, `/${name}`);
  const db: Db = createPool(url, opts.poolSize ?? 16);
  await migrate(db);
  return {
    url,
    name,
    db,
    kind: 'postgres',
    close: async () => {
      await db.end();
      const d = new pg.Client({ connectionString: adminDb });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
      await releaseAdmin();
    },
  };
}

/** Counts rows in every DAMM table: "changes nothing" tests compare snapshots. */
export async function tableCounts(db: Db): Promise<Record<string, number>> {
  const tables = ['install_passes', 'devices', 'gateways', 'audit_log', 'free_offsets', 'operator_tokens'];
  const out: Record<string, number> = {};
  for (const t of tables) out[t] = Number((await db.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
  const extra = await db.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('feed_events', 'usage_periods')",
  );
  for (const { table_name } of extra.rows) out[table_name] = Number((await db.query(`SELECT count(*) AS n FROM ${table_name}`)).rows[0].n);
  const uses = await db.query('SELECT coalesce(sum(uses_left), 0) AS n FROM install_passes');
  out['install_passes.uses_left'] = Number(uses.rows[0].n);
  return out;
}
