/**
 * Pieces of the real-network tests: child processes (`damm serve`,
 * `damm gateway run`) started in network namespaces and killed at the end,
 * a TCP relay so a control plane inside a namespace reaches the test's
 * Postgres, a root-namespace veth for the test to reach it, and `wg show`
 * read-backs. Commands are argument arrays, never a shell.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { runOk, run, type NetnsKit } from '../helpers/netns.js';
import type { Db } from '../../src/store/db.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(REPO, 'src/cli/main.ts');

export interface Proc {
  child: ChildProcess;
  lines: string[];
  /** Parsed JSON log lines (pino). */
  json(): Array<Record<string, any>>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  exited: Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
});

/** Runs `damm …` (from source, through tsx) in `ns` (or the test's own namespace when null). */
export function damm(ns: string | null, args: string[], env: Record<string, string> = {}): Proc {
  const argv = [process.execPath, '--import', 'tsx', CLI, ...args];
  const [cmd, ...rest] = ns ? ['ip', 'netns', 'exec', ns, ...argv] : argv;
  const child = spawn(cmd!, rest, { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const onLine = (l: string) => {
    lines.push(l);
    if (lines.length > 20_000) lines.splice(0, 5_000);
    for (const w of [...waiters]) {
      if (w.re.test(l)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let buf = '';
    stream.on('data', (b: Buffer) => {
      buf += b.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (live.delete(child), resolve(code))));
  return {
    child,
    lines,
    exited,
    json: () => lines.filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l); } catch { return {}; } }),
    waitFor(re, timeoutMs = 30_000) {
      const hit = lines.find((l) => re.test(l));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { re, resolve: (l: string) => (clearTimeout(t), resolve(l)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timed out waiting for ${re} in: ${args.slice(0, 2).join(' ')}\n${lines.slice(-30).join('\n')}`));
        }, timeoutMs);
        waiters.push(w);
        void exited.then((code) => {
          if (waiters.includes(w)) {
            clearTimeout(t);
            waiters.splice(waiters.indexOf(w), 1);
            reject(new Error(`process exited (${code}) before ${re}:\n${lines.slice(-30).join('\n')}`));
          }
        });
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** A TCP relay on `host` to Postgres at `target` (host:port), so a namespaced process reaches the test database. */
export async function pgRelay(host: string, target: { host: string; port: number }): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(target.port, target.host);
    sockets.add(inbound).add(outbound);
    inbound.pipe(outbound).pipe(inbound);
    const end = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on('error', end).on('close', end);
    outbound.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A veth from the test's own namespace into `ns`; returns both addresses (/30 from 10.213/16, per process). */
let vethCount = 0;
export async function rootVeth(ns: string): Promise<{ root: string; inner: string }> {
  const k = (process.pid * 4 + vethCount++) % 16384;
  const c = Math.floor(k / 64);
  const d = (k % 64) * 4;
  const root = `10.213.${c}.${d + 1}`;
  const inner = `10.213.${c}.${d + 2}`;
  const name = `vr${randomBytes(4).toString('hex')}`;
  const peer = `vi${randomBytes(4).toString('hex')}`;
  await runOk(['ip', 'link', 'add', name, 'type', 'veth', 'peer', 'name', peer, 'netns', ns]);
  await runOk(['ip', 'addr', 'add', `${root}/30`, 'dev', name]);
  await runOk(['ip', 'link', 'set', name, 'up']);
  await runOk(['ip', '-n', ns, 'addr', 'add', `${inner}/30`, 'dev', peer]);
  await runOk(['ip', '-n', ns, 'link', 'set', peer, 'up']);
  return { root, inner };
}

export interface WgPeer {
  publicKey: string;
  allowedIps: string[];
  rx: number;
  tx: number;
}

/** `wg show IF dump`: the interface's real peers. */
export async function wgShow(kit: NetnsKit, ns: string, ifname: string): Promise<WgPeer[]> {
  const r = await kit.exec(ns, ['wg', 'show', ifname, 'dump'], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`wg show ${ifname}: ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((l) => {
      const f = l.split('\t');
      return { publicKey: f[0]!, allowedIps: f[3] === '(none)' ? [] : f[3]!.split(','), rx: Number(f[5]), tx: Number(f[6]) };
    });
}

/** Active devices of a scope as "key ipv4/32,ipv6/128" lines, sorted. */
export async function activeLines(db: Db, scope = 'region:NL'): Promise<string[]> {
  const r = await db.query<{ public_key: string; v4: string; v6: string }>(
    "SELECT public_key, host(ipv4) AS v4, host(ipv6) AS v6 FROM devices WHERE state = 'active' AND scope = $1",
    [scope],
  );
  return r.rows.map((d) => `${d.public_key} ${[`${d.v4}/32`, `${d.v6}/128`].sort().join(',')}`).sort();
}

export function peerLines(peers: WgPeer[]): string[] {
  return peers.map((p) => `${p.publicKey} ${[...p.allowedIps].sort().join(',')}`).sort();
}

export async function ping(kit: NetnsKit, ns: string, ip: string, tries = 1): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    const r = await run(['ip', 'netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', ip], { timeoutMs: 5000 });
    if (r.code === 0) return true;
  }
  return false;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export { within } from '../helpers/wait.js';

/** fetch with a bound; the error names the request. */
export async function fetchWithin(url: string, init: RequestInit = {}, ms = 30_000): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
  } catch (err) {
    throw new Error(`${init.method ?? 'GET'} ${url}: no answer within ${ms} ms (${(err as Error).message})`, { cause: err });
  }
}

/**
 * Brings a client's WireGuard interface in `ns` up from the exact .conf text
 * DAMM renders: `wg setconf` takes what wg understands; Address becomes
 * `ip addr`, routes send everything through the tunnel.
 */
export async function clientUpFromConf(kit: NetnsKit, ns: string, ifname: string, conf: string): Promise<void> {
  const addresses: string[] = [];
  const wgLines: string[] = [];
  for (const line of conf.split('\n')) {
    const m = /^(\w+)\s*=\s*(.*)$/.exec(line);
    if (m && m[1] === 'Address') addresses.push(...m[2]!.split(',').map((s) => s.trim()));
    else if (m && m[1] === 'DNS') continue; // wg-quick's job; no resolver in this namespace
    else wgLines.push(line);
  }
  // Node's stdin "pipe" is a socketpair, which wg cannot fopen as /dev/stdin: hand it a 0600 file instead.
  const dir = await mkdtemp(path.join(tmpdir(), 'damm-e2e-conf-'));
  const file = path.join(dir, 'client.conf');
  await writeFile(file, wgLines.join('\n'), { mode: 0o600 });
  const setconf = await kit.exec(ns, ['wg', 'setconf', ifname, file]);
  await rm(dir, { recursive: true, force: true });
  assert.equal(setconf.code, 0, setconf.stderr);
  await kit.exec(ns, ['ip', 'address', 'flush', 'dev', ifname]);
  for (const a of addresses) assert.equal((await kit.exec(ns, ['ip', 'address', 'add', a, 'dev', ifname])).code, 0);
  assert.equal((await kit.exec(ns, ['ip', 'link', 'set', 'dev', ifname, 'up'])).code, 0);
  // The endpoint stays reachable over the veth (its connected /24 is more specific than the default route).
  assert.equal((await kit.exec(ns, ['ip', 'route', 'replace', 'default', 'dev', ifname])).code, 0);
  await kit.exec(ns, ['ip', '-6', 'route', 'replace', 'default', 'dev', ifname]);
}

/** GET `url` from inside `ns` (through whatever routes it has, e.g. a tunnel) and parse the JSON answer. */
export async function whoamiFrom(kit: NetnsKit, ns: string, url: string): Promise<any> {
  const r = await kit.exec(ns, [process.execPath, '-e', 'fetch(process.argv[1]).then(async (r) => process.stdout.write(await r.text()))', url], { timeoutMs: 15_000 });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}
