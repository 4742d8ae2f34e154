/**
 * Gateway pieces for the benchmarks: a real wireguard-go in its own network
 * namespace (test/helpers/netns.ts: machine-unique names, torn down on exit),
 * and the real agent as its own process, `node dist/cli/main.js gateway run`,
 * pointed at a UAPI tap so the moment each peer goes live is known exactly.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path, { delimiter } from 'node:path';
import { createInterface } from 'node:readline';
import { CLI_MAIN } from './cp.js';
import type { BenchOutput } from './result.js';
import { REPO_ROOT } from './env.js';
import { processMemMB } from './cpu.js';
import { UapiTap } from './uapi-tap.js';
import { redirectTable } from '../../src/gateway/agent/host.js';
import type { NetnsKit, UserspaceDaemon, WireguardGoHandle } from '../../test/helpers/netns.js';

/** Why the gateway benchmarks cannot run here, or null when they can. */
/** The result of a gateway benchmark that cannot run on this machine, saying why. */
export function unavailableOutput(parameters: BenchOutput['parameters'], problem: string): BenchOutput {
  return { status: 'unavailable', parameters, samples: {}, summary: {}, targets: {}, notes: [`cannot run here: ${problem}`] };
}

export function gatewayPrereqProblem(): string | null {
  const problems: string[] = [];
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) problems.push('not root (network namespaces need it)');
  for (const f of ['src/gateway/agent/agent.ts', 'src/cli/commands/gateway.ts']) if (!existsSync(path.join(REPO_ROOT, f))) problems.push(`${f} is missing (the gateway agent)`);
  if (!existsSync('/dev/net/tun')) problems.push('/dev/net/tun is missing');
  return problems.length ? problems.join('; ') : null;
}

/** Whether `bin` is on this process's PATH. */
export function inPath(bin: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((d) => existsSync(path.join(d, bin)));
}

/** Why a second lane (amneziawg-go) or alternate ports (nft) cannot be measured here, or null. */
export function lanePrereqProblem(o: { awg: boolean; altPorts?: readonly number[] }): string | null {
  const missing = [...(o.awg ? ['amneziawg-go'] : []), ...(o.altPorts?.length ? ['nft'] : [])].filter((b) => !inPath(b));
  return missing.length ? `${missing.map((b) => `\`${b}\``).join(', ')} not in PATH (.ci/run installs amneziawg-go)` : null;
}

export async function newKit(): Promise<NetnsKit> {
  const { NetnsKit } = await import('../../test/helpers/netns.js');
  return new NetnsKit();
}

export interface TappedDaemon {
  daemon: WireguardGoHandle;
  tap: UapiTap;
  tapDir: string;
  close(): Promise<void>;
}

/**
 * A fresh wireguard-go (or `daemon`, e.g. amneziawg-go) in a fresh namespace
 * (or in `ns`, beside another lane's daemon), with a tap the agent will use.
 * Each tap has its own directory: the agent's --uapi-socket-dir and
 * --awg-socket-dir point at two of them.
 */
export async function tappedDaemon(kit: NetnsKit, o: { daemon?: UserspaceDaemon; ns?: string } = {}): Promise<TappedDaemon> {
  const ns = o.ns ?? (await kit.namespace());
  const daemon = o.daemon ? await kit.startWireguardGo(ns, undefined, o.daemon) : await kit.startWireguardGo(ns);
  const tapDir = await mkdtemp(path.join(tmpdir(), 'damm-bench-tap-'));
  const tap = new UapiTap(tapDir, daemon.ifname, daemon.socketPath);
  await tap.listen();
  return {
    daemon,
    tap,
    tapDir,
    close: async () => {
      await tap.close();
      await rm(tapDir, { recursive: true, force: true });
      await kit.stopWireguardGo(daemon);
    },
  };
}

/** A gateway's lanes as the benchmarks run them: lane 0 on wireguard-go, optionally lane 1 on amneziawg-go in the same namespace, each behind its own tap. */
export interface TappedGateway {
  /** lanes[0] is lane 0 (wireguard-go); lanes[1], when present, lane 1 (amneziawg-go). */
  lanes: TappedDaemon[];
  /** What startAgent needs for the lanes beyond lane 0. */
  setup: LaneSetup;
  /** Resolves with the moment `key` is live on EVERY lane (the last tap's acknowledgement). */
  whenLive(key: string): Promise<number>;
  /** Keys live on every lane so far. */
  liveCount(): number;
  close(): Promise<void>;
}

export const AWG_LISTEN_PORT = 51821;

export async function tappedGateway(kit: NetnsKit, o: { awg: boolean; altPorts?: number[] }): Promise<TappedGateway> {
  const { AMNEZIAWG_GO } = await import('../../test/helpers/netns.js');
  const lane0 = await tappedDaemon(kit);
  const lanes = [lane0];
  if (o.awg) lanes.push(await tappedDaemon(kit, { daemon: AMNEZIAWG_GO, ns: lane0.daemon.ns }));
  const awg = lanes[1];
  return {
    lanes,
    setup: {
      ...(awg ? { awg: { ifname: awg.daemon.ifname, tapDir: awg.tapDir, listenPort: AWG_LISTEN_PORT } } : {}),
      ...(o.altPorts?.length ? { altPorts: o.altPorts } : {}),
    },
    whenLive: async (key) => Math.max(...(await Promise.all(lanes.map((l) => l.tap.whenLive(key))))),
    liveCount: () => {
      let n = 0;
      for (const k of lane0.tap.liveAt.keys()) if (lanes.every((l) => l.tap.liveAt.has(k))) n++;
      return n;
    },
    close: async () => {
      for (const l of lanes.reverse()) await l.close();
    },
  };
}

export interface AgentProcess {
  pid: number;
  child: ChildProcess;
  stateDir: string;
  /** Parsed JSON log lines so far. */
  logs: Array<Record<string, unknown> & { msg?: string; t: number }>;
  /** Resolves with performance.now() when a log line with this msg appears. */
  waitForLog(msg: string, timeoutMs?: number): Promise<number>;
  /** Peak VmRSS seen by the sampler so far (MB). */
  rss(): { peakMB: number; lastMB: number };
  stop(): Promise<void>;
}

/** How many doors the benchmarked gateway serves: lane 0 always; `awg` adds lane 1 (AmneziaWG); `altPorts` adds lane-0 doors. */
export interface LaneSetup {
  /** Lane 1: the tapped amneziawg-go the agent drives with --awg-*. */
  awg?: { ifname: string; tapDir: string; listenPort: number };
  /** Lane 0's alternate UDP ports (--alt-port): nftables redirects in the agent's own table, each one more catalog door. */
  altPorts?: number[];
}

/** The agent's arguments for a lane setup (lane 0's are always given by startAgent). */
function laneArgs(l: LaneSetup): string[] {
  const args: string[] = [];
  for (const p of l.altPorts ?? []) args.push('--alt-port', String(p));
  if (l.awg) args.push('--awg-port', String(l.awg.listenPort), '--awg-interface', l.awg.ifname, '--awg-socket-dir', l.awg.tapDir);
  return args;
}

/**
 * Starts `damm gateway run` against `controlPlane` for the daemon behind `tap`
 * (and, with `lanes.awg`, the amneziawg-go behind a second tap).
 * Logs at info level come back on stdout as JSON and are kept.
 */
export async function startAgent(o: { controlPlane: string; token: string; ifname: string; tapDir: string; listenPort?: number; logLevel?: string; sampleEveryMs?: number; lanes?: LaneSetup }): Promise<AgentProcess> {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'damm-bench-gw-'));
  // DAMM_BENCH_AGENT_NODE_ARGS: extra node flags for the agent (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") when profiling.
  const nodeArgs = (process.env['DAMM_BENCH_AGENT_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    [...nodeArgs, CLI_MAIN, 'gateway', 'run', '--control-plane', o.controlPlane, '--interface', o.ifname, '--listen-port', String(o.listenPort ?? 51820),
      '--endpoint', '192.0.2.10:51820', '--egress-ip', '192.0.2.10', '--state-dir', stateDir, '--backend', 'uapi', '--uapi-socket-dir', o.tapDir,
      '--no-manage-addresses', '--reconcile-interval', '3600', '--log-level', o.logLevel ?? 'info', ...laneArgs(o.lanes ?? {})],
    { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', NODE_ENV: 'production', DAMM_GATEWAY_TOKEN: o.token }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // An agent killed before its own shutdown leaves its alternate-port table behind; drop it here too.
  const dropRedirects = () => {
    if (o.lanes?.altPorts?.length) spawnSync('nft', ['delete', 'table', 'inet', redirectTable(o.ifname)], { stdio: 'ignore' });
  };
  const kill = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    dropRedirects();
  };
  process.once('exit', kill);
  const logs: AgentProcess['logs'] = [];
  const waiters: Array<{ msg: string; resolve: (t: number) => void }> = [];
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const t = performance.now();
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      rec = { msg: line };
    }
    const entry = { ...rec, t } as AgentProcess['logs'][number];
    if (logs.length < 5000) logs.push(entry);
    for (const w of [...waiters]) if (w.msg === entry.msg) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(t);
    }
  });
  let peak = 0;
  let last = 0;
  const sample = () => {
    const m = processMemMB(child.pid!);
    if (m) {
      last = m.rssMB;
      peak = Math.max(peak, m.rssMB);
    }
  };
  const sampler = setInterval(sample, o.sampleEveryMs ?? 50);
  return {
    pid: child.pid!,
    child,
    stateDir,
    logs,
    waitForLog: (msg, timeoutMs = 300_000) => {
      const seen = logs.find((l) => l.msg === msg);
      if (seen) return Promise.resolve(seen.t);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`agent did not log "${msg}" within ${timeoutMs / 1000} s; stderr: ${err.slice(-1000)}; last logs: ${JSON.stringify(logs.slice(-3))}`)), timeoutMs);
        const exit = (code: number | null) => reject(new Error(`agent exited ${code} before logging "${msg}": ${err.slice(-1500)} ${JSON.stringify(logs.slice(-3))}`));
        child.once('exit', exit);
        waiters.push({ msg, resolve: (t) => { clearTimeout(timer); child.removeListener('exit', exit); resolve(t); } });
      });
    },
    rss: () => {
      sample();
      return { peakMB: peak, lastMB: last };
    },
    stop: async () => {
      clearInterval(sampler);
      process.removeListener('exit', kill);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      dropRedirects();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** A one-time gateway registration token from the operator API (the agent registers itself with it). */
export async function gatewayToken(cp: { url: string; operatorToken: string }, region = 'NL'): Promise<{ gatewayId: string; token: string }> {
  const res = await fetch(`${cp.url}/v1/operator/gateways`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${cp.operatorToken}` },
    body: JSON.stringify({ region, country: region }),
  });
  const body = (await res.json()) as { gatewayId: string; registrationToken: string };
  if (res.status !== 201) throw new Error(`gateway add failed ${res.status}: ${JSON.stringify(body)}`);
  return { gatewayId: body.gatewayId, token: body.registrationToken };
}

/** Resolves null after `ms` (never holds the process open): raced against a tap's whenLive/whenRemoved, a peer that never comes is counted, not waited on forever. */
export const giveUpAfter = (ms: number) => new Promise<null>((r) => setTimeout(() => r(null), ms).unref());
