/**
 * Test kit for real-network tests: network namespaces, veth pairs and
 * wireguard-go processes with machine-unique names, all owned by the kit and
 * torn down in `cleanup()` (registered with node:test's `after()` by
 * `useNetnsKit()`, plus a synchronous last resort on process exit).
 *
 * Names embed the owning test process's pid, so a later run can sweep what a
 * crashed run left behind without touching a concurrent run's resources.
 * Commands run with argument arrays, never through a shell.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { pidAlive } from '../../src/io/process.js';

export const UAPI_SOCKET_DIR = '/var/run/wireguard';
/** amneziawg-go's socket directory (its ipc/uapi_unix.go). */
export const AWG_UAPI_SOCKET_DIR = '/var/run/amneziawg';

/** A userspace WireGuard daemon the kit can start: both take `-f IFNAME` and listen on `<socketDir>/<IFNAME>.sock`. */
export interface UserspaceDaemon {
  binary: string;
  socketDir: string;
}
export const WIREGUARD_GO: UserspaceDaemon = { binary: 'wireguard-go', socketDir: UAPI_SOCKET_DIR };
export const AMNEZIAWG_GO: UserspaceDaemon = { binary: 'amneziawg-go', socketDir: AWG_UAPI_SOCKET_DIR };
const NETNS_PREFIX = 'dammt-';
const IF_PREFIX = 'dw';
const VETH_PREFIX = 've';

const PID36 = process.pid.toString(36).padStart(5, '0').slice(-5);

function rand(n = 4): string {
  let s = '';
  const bytes = randomBytes(n);
  for (const b of bytes) s += (b % 36).toString(36);
  return s;
}

/** A machine-unique interface name of 11 characters (Linux allows 15). */
export function uniqueIfName(prefix = IF_PREFIX): string {
  return `${prefix}${PID36}${rand()}`;
}

function inPath(bin: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, bin), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

/**
 * Throw unless this process can run the network tests. Never skips: a skipped
 * test is not a pass. Under CI (`process.env.CI`) the message says so loudly.
 */
export function requirePrereqs(): void {
  const problems: string[] = [];
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) problems.push('not running as root (network namespaces need CAP_SYS_ADMIN/CAP_NET_ADMIN)');
  for (const bin of ['ip', 'wireguard-go', 'wg', 'ping', 'nft']) if (!inPath(bin)) problems.push(`\`${bin}\` not found in PATH`);
  if (!existsSync('/dev/net/tun')) problems.push('/dev/net/tun is missing');
  if (problems.length === 0) return;
  const ci = process.env['CI'] ? 'CI MISCONFIGURED: ' : '';
  throw new Error(
    `${ci}WireGuard network tests cannot run: ${problems.join('; ')}. ` +
      'They need root, iproute2, wireguard-go, wireguard-tools, iputils-ping and nftables ' +
      '(Debian: apt-get install iproute2 wireguard-go wireguard-tools iputils-ping nftables). They are never skipped.',
  );
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command (argument array, no shell); optional stdin; rejects on timeout. */
export function run(argv: readonly string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('run: empty argv');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${argv.join(' ')}: timed out after ${opts.timeoutMs ?? 20_000} ms`));
    }, opts.timeoutMs ?? 20_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

/**
 * Ends a child process a test started: SIGTERM, up to `graceMs` for it to
 * exit on its own (an agent closes its connections and removes its rules),
 * then SIGKILL; resolves once it has exited. Already gone: returns at once.
 */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const ended = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!ended) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Like `run`, but throws with stderr unless the exit code is 0. */
export async function runOk(argv: readonly string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`\`${argv.join(' ')}\` exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

export interface WireguardGoHandle {
  ns: string;
  ifname: string;
  socketPath: string;
  pid: number;
  /** Output of the daemon so far (stderr + stdout), for failure messages. */
  log(): string;
}


function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function nsPids(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
  } catch {
    return [];
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Remove namespaces, sockets and processes left by test runs whose process has died. */
export function sweepStale(): void {
  let names: string[] = [];
  try {
    names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(NETNS_PREFIX));
  } catch {
    return;
  }
  for (const ns of names) {
    const owner = parseInt(ns.slice(NETNS_PREFIX.length).split('-')[0] ?? '', 36);
    if (!Number.isFinite(owner) || pidAlive(owner)) continue;
    for (const pid of nsPids(ns)) killQuietly(pid, 'SIGKILL');
    try {
      execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
    } catch {
      // raced with another sweeper
    }
  }
  for (const dir of [UAPI_SOCKET_DIR, AWG_UAPI_SOCKET_DIR]) {
    let sockets: string[] = [];
    try {
      sockets = readdirSync(dir).filter((f) => f.startsWith(IF_PREFIX) && f.endsWith('.sock') && f.length === 16);
    } catch {
      continue;
    }
    for (const f of sockets) {
      const owner = parseInt(f.slice(IF_PREFIX.length, IF_PREFIX.length + 5), 36);
      if (Number.isFinite(owner) && !pidAlive(owner)) rmSync(join(dir, f), { force: true });
    }
  }
}

export class NetnsKit {
  private readonly namespaces: string[] = [];
  private readonly daemons: Array<{ child: ChildProcess; handle: WireguardGoHandle }> = [];
  private cleaned = false;
  private readonly onExit = (): void => this.cleanupSync();

  constructor() {
    requirePrereqs();
    sweepStale();
    process.once('exit', this.onExit);
  }

  /**
   * Create a network namespace (loopback up) owned by this kit. `label`
   * (up to 8 of [a-z0-9]) makes it recognisable: dammt-<pid>-<label><random>.
   */
  async namespace(label = ''): Promise<string> {
    if (!/^[a-z0-9]{0,8}$/.test(label)) throw new Error(`namespace label ${JSON.stringify(label)}: up to 8 of [a-z0-9]`);
    const ns = `${NETNS_PREFIX}${PID36}-${label}${rand(6)}`;
    await runOk(['ip', 'netns', 'add', ns]);
    this.namespaces.push(ns);
    await runOk(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** A veth pair between two namespaces, addressed and up. Returns the interface names. */
  async veth(nsA: string, cidrA: string, nsB: string, cidrB: string): Promise<{ ifA: string; ifB: string }> {
    const ifA = uniqueIfName(VETH_PREFIX);
    const ifB = uniqueIfName(VETH_PREFIX);
    await runOk(['ip', 'link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
    await runOk(['ip', '-n', nsA, 'addr', 'add', cidrA, 'dev', ifA]);
    await runOk(['ip', '-n', nsB, 'addr', 'add', cidrB, 'dev', ifB]);
    await runOk(['ip', '-n', nsA, 'link', 'set', ifA, 'up']);
    await runOk(['ip', '-n', nsB, 'link', 'set', ifB, 'up']);
    return { ifA, ifB };
  }

  /** Run a command inside a namespace. */
  exec(ns: string, argv: readonly string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(['ip', 'netns', 'exec', ns, ...argv], opts);
  }

  /**
   * Start `wireguard-go -f` (or another `daemon`, e.g. AMNEZIAWG_GO) in `ns`,
   * owned by this kit; resolves once its UAPI socket answers.
   */
  async startWireguardGo(ns: string, ifname = uniqueIfName(), daemon: UserspaceDaemon = WIREGUARD_GO): Promise<WireguardGoHandle> {
    if (!inPath(daemon.binary)) throw new Error(`\`${daemon.binary}\` not found in PATH (amneziawg-go: see .ci/run); network tests are never skipped`);
    const socketPath = join(daemon.socketDir, `${ifname}.sock`);
    if (existsSync(socketPath)) throw new Error(`UAPI socket ${socketPath} already exists: interface name collision`);
    // `ip netns exec` execs into the daemon, so the child's pid is the daemon's.
    // WG_PROCESS_FOREGROUND=1 silences amneziawg-go's "kernel module preferred" banner; -f keeps both in the foreground.
    const child = spawn('ip', ['netns', 'exec', ns, daemon.binary, '-f', ifname], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'error', WG_PROCESS_FOREGROUND: '1' },
    });
    let log = '';
    child.stdout!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-8000)));
    child.stderr!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-8000)));
    const handle: WireguardGoHandle = { ns, ifname, socketPath, pid: child.pid ?? -1, log: () => log };
    this.daemons.push({ child, handle });
    let exited = false;
    child.once('exit', () => (exited = true));
    // Generous: on a loaded machine a daemon's start-up has taken seconds.
    const deadline = Date.now() + 20_000;
    while (!(existsSync(socketPath) && (await socketAnswers(socketPath)))) {
      if (exited) throw new Error(`${daemon.binary} for ${ifname} exited during start-up: ${log.trim()}`);
      if (Date.now() > deadline) throw new Error(`${daemon.binary} for ${ifname} did not open ${socketPath} within 20 s: ${log.trim()}`);
      await sleep(10);
    }
    return handle;
  }

  /** Stop one daemon now (SIGTERM, then SIGKILL) and remove its socket. */
  async stopWireguardGo(handle: WireguardGoHandle): Promise<void> {
    const entry = this.daemons.find((d) => d.handle === handle);
    if (!entry) return;
    const { child } = entry;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGCONT'); // in case a test stopped it
    await stopChild(child, 2000);
    rmSync(handle.socketPath, { force: true });
    this.daemons.splice(this.daemons.indexOf(entry), 1);
  }

  /** Tear everything down; safe to call twice; collects errors and throws them at the end. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    const errors: string[] = [];
    for (const { handle } of [...this.daemons]) {
      await this.stopWireguardGo(handle).catch((e: Error) => errors.push(e.message));
    }
    for (const ns of this.namespaces.splice(0)) {
      for (const pid of nsPids(ns)) killQuietly(pid, 'SIGKILL');
      const r = await run(['ip', 'netns', 'delete', ns]);
      if (r.code !== 0) errors.push(`ip netns delete ${ns}: ${r.stderr.trim()}`);
    }
    this.cleaned = true;
    process.removeListener('exit', this.onExit);
    if (errors.length) throw new Error(`netns cleanup: ${errors.join('; ')}`);
  }

  /** Last resort when the process exits without running `after()` hooks. */
  private cleanupSync(): void {
    if (this.cleaned) return;
    for (const { child, handle } of this.daemons) {
      if (child.pid) killQuietly(child.pid, 'SIGKILL');
      rmSync(handle.socketPath, { force: true });
    }
    for (const ns of this.namespaces) {
      for (const pid of nsPids(ns)) killQuietly(pid, 'SIGKILL');
      try {
        execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
      } catch {
        // nothing more to do at exit
      }
    }
    this.cleaned = true;
  }
}

/** A kit for the current test file, torn down by `after()` even when tests fail. */
export function useNetnsKit(): NetnsKit {
  const kit = new NetnsKit();
  after(() => kit.cleanup());
  return kit;
}
