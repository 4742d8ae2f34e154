/**
 * Runs a real control plane as its own process, exactly as an operator does:
 * `node dist/cli/main.js serve` with DATABASE_URL (so the load generator does
 * not share its event loop, and RSS is the control plane's alone). The app is
 * what `damm serve` builds: createControlPlane(), feed, admissions and wizard included.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Db } from '../../src/store/db.js';
import { REPO_ROOT } from './env.js';
import { BENCH_IPV4_POOL, BENCH_IPV6_PREFIX } from './seed.js';
import { randomPublicKeys } from './seed.js';

/** DAMM_BENCH_CLI points at another build (e.g. a worktree with a proposed patch) for A/B runs; results then say so. */
export const CLI_MAIN = process.env['DAMM_BENCH_CLI'] ? path.resolve(process.env['DAMM_BENCH_CLI']) : path.join(REPO_ROOT, 'dist/cli/main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) {
      if (p.endsWith(path.join('src', 'wizard'))) continue;
      newest = Math.max(newest, newestMtime(p));
    } else if (name.endsWith('.ts') || name.endsWith('.sql')) newest = Math.max(newest, st.mtimeMs);
  }
  return newest;
}

/**
 * Makes sure dist/ reflects src/ (others edit src/ while benchmarks run):
 * rebuilds with `npm run build` when any source is newer than the build.
 * Returns a note for the result when a build ran.
 */
let builtOnce: { note: string | null } | null = null;

/**
 * Once per process: a suite runs every benchmark on the same build even if
 * others edit src/ meanwhile.
 */
export function ensureBuilt(say: (m: string) => void): string | null {
  if (!builtOnce) builtOnce = { note: buildIfStale(say) };
  return builtOnce.note;
}

/** The notes a benchmark starts with: what ensureBuilt had to say about the build, if anything. */
export function buildNotes(say: (m: string) => void): string[] {
  const note = ensureBuilt(say);
  return note ? [note] : [];
}

function buildIfStale(say: (m: string) => void): string | null {
  if (process.env['DAMM_BENCH_CLI']) return `control plane and agent from DAMM_BENCH_CLI=${CLI_MAIN}, not this tree's dist/`;
  const built = existsSync(CLI_MAIN) ? statSync(CLI_MAIN).mtimeMs : 0;
  if (built >= newestMtime(path.join(REPO_ROOT, 'src'))) return null;
  say('dist/ is older than src/: running `npm run build`');
  const r = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 180_000 });
  if (!existsSync(CLI_MAIN)) throw new Error(`npm run build produced no ${CLI_MAIN}: ${r.stdout}${r.stderr}`);
  if (r.status !== 0) {
    const note = `npm run build exited ${r.status} (type errors in work in progress?); ran the emitted dist/ anyway: ${(r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ')}`;
    say(note);
    return note;
  }
  return 'dist/ rebuilt from the working tree before the run';
}

export interface ControlPlaneProcess {
  url: string;
  pid: number;
  dataDir: string;
  operatorToken: string;
  child: ChildProcess;
  stderr(): string;
  /** keepData: leave the data directory (keys, operator token) for a restart. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Starts `damm serve` on a loopback port against `databaseUrl`; resolves once it listens. */
export async function startControlPlane(opts: {
  databaseUrl: string;
  env?: Record<string, string>;
  nodeArgs?: string[];
  /** Reuse a data directory (its keys and operator token), e.g. to restart on the same store; it is then not removed on stop. */
  dataDir?: string;
}): Promise<ControlPlaneProcess> {
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'damm-bench-cp-')));
  await rm(path.join(dataDir, 'url'), { force: true });
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: process.env['HOME'] ?? '/root',
    NODE_ENV: 'production',
    DATABASE_URL: opts.databaseUrl,
    DAMM_IPV4_POOL: BENCH_IPV4_POOL,
    DAMM_IPV6_PREFIX: BENCH_IPV6_PREFIX,
    ...opts.env,
  };
  // Logs go where `damm serve` sends them (stdout), here /dev/null; stderr is kept for failures.
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), CLI_MAIN, 'serve', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0'], {
    cwd: path.resolve(path.dirname(CLI_MAIN), '../..'),
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-8000)));
  const urlFile = path.join(dataDir, 'url');
  const deadline = Date.now() + 30_000;
  let url = '';
  while (!url) {
    if (child.exitCode !== null) throw new Error(`damm serve exited ${child.exitCode} during start-up: ${err.trim()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`damm serve did not listen within 30 s: ${err.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
    url = existsSync(urlFile) ? readFileSync(urlFile, 'utf8').trim() : '';
  }
  const operatorToken = (await readFile(path.join(dataDir, 'operator-token'), 'utf8')).trim();
  return {
    url,
    pid: child.pid!,
    dataDir,
    operatorToken,
    child,
    stderr: () => err,
    stop: async (stopOpts) => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      children.delete(child);
      if (ownDir && !stopOpts?.keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function api(url: string, method: string, p: string, body?: unknown, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}${p}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

/** Adds and registers one gateway through the real API (as registerTestGateway does). */
export async function registerGateway(
  cp: Pick<ControlPlaneProcess, 'url' | 'operatorToken'>,
  opts: { region?: string; country?: string; publicKey?: string; host?: string; port?: number } = {},
): Promise<{ gatewayId: string; credential: string; raw: any }> {
  const add = await api(cp.url, 'POST', '/v1/operator/gateways', { region: opts.region ?? 'NL', country: opts.country ?? 'NL' }, cp.operatorToken);
  if (add.status !== 201) throw new Error(`gateway add failed (${add.status}): ${JSON.stringify(add.body)}`);
  const reg = await api(cp.url, 'POST', '/v1/gateways/register', {
    registrationToken: add.body.registrationToken,
    doors: [{ lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: opts.publicKey ?? randomPublicKeys(1)[0]!, params: null, endpoints: [{ host: opts.host ?? '192.0.2.10', port: opts.port ?? 51820 }] }],
    egressIps: [opts.host ?? '192.0.2.10'],
  });
  if (reg.status !== 201) throw new Error(`gateway register failed (${reg.status}): ${JSON.stringify(reg.body)}`);
  return { gatewayId: reg.body.gatewayId, credential: reg.body.credential, raw: reg.body };
}

/**
 * Keeps a gateway "online" for placement while no agent runs for it: sends
 * the agent's heartbeat (POST /v1/gateways/:id/heartbeat, no peers) through
 * the API, or, in a build without that route, refreshes last_heartbeat_at in
 * the store. Returns a stopper.
 */
export async function keepGatewayOnline(db: Db, cp: { url: string }, gw: { gatewayId: string; credential: string }, everyMs = 15_000): Promise<() => void> {
  let viaApi = true;
  const beat = async () => {
    if (viaApi) {
      const r = await api(cp.url, 'POST', `/v1/gateways/${gw.gatewayId}/heartbeat`, { peers: [] }, gw.credential).catch(() => ({ status: 0 }));
      if (r.status === 200) return;
      if (r.status === 404) viaApi = false;
    }
    await db.query('UPDATE gateways SET last_heartbeat_at = now() WHERE id = $1', [gw.gatewayId]).catch(() => {});
  };
  await beat();
  const t = setInterval(() => void beat(), everyMs);
  t.unref();
  return () => clearInterval(t);
}
