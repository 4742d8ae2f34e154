/**
 * Driver for Xray-core (pinned v1.260327.0, docs/doors.md) serving VLESS
 * over WebSocket, behind the proxy port (port.ts).
 *
 * - Transport: VLESS in WebSocket, TLS terminated either by Caddy in front
 *   (production: one ACME certificate on 443 shared with the Shadowsocks
 *   WebSocket door, paths routed by Caddy) or by Xray itself with a given
 *   certificate (tests, or a host without Caddy). docs/doors.md says why
 *   WebSocket+TLS rather than REALITY.
 * - Users change at runtime through Xray's own API (HandlerService
 *   AlterInbound add/remove user), so nobody else's connection is touched;
 *   no restart, no reload. The API is spoken by spawning `xray api adu /
 *   rmu / inbounduser / statsquery` with argument arrays, the users' UUIDs
 *   on stdin (`stdin:`), never in argv: Xray's gRPC messages wrap each
 *   account in a TypedMessage, and its own CLI already builds them from the
 *   same JSON the config file uses, so DAMM carries no copy of Xray's protos.
 * - The config file is rewritten durably with the desired set on every
 *   change (not reloaded): a restarted Xray comes back holding the same users.
 * - Actual set: `api inbounduser -tag`, what the running inbound holds.
 * - Counters: StatsService `user>>>ID>>>traffic>>>uplink|downlink`
 *   (uplink = from the device).
 */
import { spawn } from 'node:child_process';
import { DammError } from '../../core/errors.js';
import { writeFileDurably } from '../../io/durable-file.js';
import { ChildServerDriver, startServerChild, type ServerChild } from './child.js';
import type { ProxyCounters, ProxyServer, ProxyUser } from './port.js';
import { checkProxyUsers } from './users.js';
import { isDoorPath } from '../../core/proxy-config.js';

export const XRAY_INBOUND_TAG = 'damm-vless';

export interface XrayVlessInbound {
  /** Address the WebSocket listener binds ("127.0.0.1" behind Caddy, "0.0.0.0" when Xray does TLS). */
  listen: string;
  port: number;
  /** WebSocket path (a door parameter; Caddy routes it here). */
  path: string;
  /** TLS in Xray itself; omit behind Caddy. */
  tls?: { certificateFile: string; keyFile: string };
}

export interface XrayOptions {
  configPath: string;
  inbound: XrayVlessInbound;
  /** host:port of Xray's gRPC API; keep it on loopback. */
  apiAddress: string;
  /** The xray command, default ['xray']; a test prefixes `ip netns exec NS`. Used for the server and its `api` calls. */
  command?: readonly string[];
  timeoutMs?: number;
}


const clientsOf = (users: readonly ProxyUser[]) => users.map((u) => ({ id: u.secret, email: u.id, level: 0 }));

function vlessInbound(inbound: XrayVlessInbound, users: readonly ProxyUser[]): Record<string, unknown> {
  return {
    tag: XRAY_INBOUND_TAG,
    listen: inbound.listen,
    port: inbound.port,
    protocol: 'vless',
    settings: { clients: clientsOf(users), decryption: 'none' },
    streamSettings: {
      network: 'ws',
      wsSettings: { path: inbound.path },
      ...(inbound.tls
        ? { security: 'tls', tlsSettings: { alpn: ['http/1.1'], certificates: [{ certificateFile: inbound.tls.certificateFile, keyFile: inbound.tls.keyFile }] } }
        : { security: 'none' }),
    },
  };
}

/** Xray's JSON config: the VLESS inbound, the API (HandlerService, StatsService) on its own listener, per-user stats. */
export function renderXrayConfig(opts: Pick<XrayOptions, 'inbound' | 'apiAddress'>, users: readonly ProxyUser[]): string {
  checkProxyUsers('vless', users);
  if (!isDoorPath(opts.inbound.path)) throw new DammError('invalid_argument', 'The WebSocket path must be absolute and URL-safe.');
  const [apiHost, apiPort] = splitHostPort(opts.apiAddress);
  const config = {
    log: { loglevel: 'warning' },
    api: { tag: 'api', listen: `${apiHost}:${apiPort}`, services: ['HandlerService', 'StatsService'] },
    stats: {},
    policy: { levels: { '0': { statsUserUplink: true, statsUserDownlink: true } } },
    inbounds: [vlessInbound(opts.inbound, users)],
    outbounds: [{ tag: 'direct', protocol: 'freedom' }],
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

function splitHostPort(address: string): [string, number] {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d{1,5})$/.exec(address);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) throw new DammError('invalid_argument', `Not a host:port: ${address}.`);
  return [m[1]!, port];
}

/** Per-user bytes from `xray api statsquery` JSON (int64 values come as strings or numbers). */
export function countersFromStats(json: string): Map<string, ProxyCounters> {
  const out = new Map<string, ProxyCounters>();
  const parsed = JSON.parse(json) as { stat?: Array<{ name?: string; value?: string | number }> };
  for (const s of parsed.stat ?? []) {
    const m = /^user>>>(.+)>>>traffic>>>(uplink|downlink)$/.exec(s.name ?? '');
    if (!m) continue;
    const c = out.get(m[1]!) ?? { rxBytes: 0n, txBytes: 0n };
    const v = BigInt(s.value ?? 0);
    if (m[2] === 'uplink') c.rxBytes += v;
    else c.txBytes += v;
    out.set(m[1]!, c);
  }
  return out;
}

interface ApiResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class XrayVlessServer extends ChildServerDriver implements ProxyServer {
  /** What this driver gave the server: id → UUID (the API lists ids; a changed UUID is a remove + add). */
  private given = new Map<string, string>();

  constructor(private readonly opts: XrayOptions) {
    super('xray');
  }

  private get timeoutMs(): number {
    return this.opts.timeoutMs ?? 10_000;
  }

  private get command(): readonly string[] {
    return this.opts.command ?? ['xray'];
  }


  start(initial: readonly ProxyUser[]): Promise<void> {
    return this.serial(async () => {
      if (this.child) throw new DammError('conflict', 'xray is already running.');
      await writeFileDurably(this.opts.configPath, renderXrayConfig(this.opts, initial));
      const child = startServerChild([...this.command, 'run', '-c', this.opts.configPath], 'xray');
      this.child = child;
      try {
        // Ready when the API answers and holds the initial users.
        const deadline = Date.now() + this.timeoutMs;
        for (;;) {
          const r = await this.api(['inbounduser', `-tag=${XRAY_INBOUND_TAG}`]);
          if (r.code === 0) break;
          if (Date.now() > deadline) throw new DammError('internal', `xray's API did not answer within ${this.timeoutMs} ms: ${r.stderr.trim()}\n${child.lines().slice(-10).join('\n')}`);
          const exited = await Promise.race([child.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 100))]);
          if (exited) {
            throw new DammError('config_invalid', `xray exited during start-up:\n${child.lines().slice(-10).join('\n')}`);
          }
        }
        this.given = new Map(initial.map((u) => [u.id, u.secret]));
      } catch (err) {
        await child.stop();
        this.child = undefined;
        throw err;
      }
    });
  }

  apply(desired: readonly ProxyUser[]): Promise<void> {
    return this.serial(async () => {
      this.running();
      checkProxyUsers('vless', desired);
      const held = new Set(await this.heldIds());
      const want = new Map(desired.map((u) => [u.id, u.secret]));
      const remove = [...held].filter((id) => !want.has(id) || this.given.get(id) !== want.get(id));
      const add = desired.filter((u) => !held.has(u.id) || remove.includes(u.id));
      if (remove.length > 0) {
        const r = await this.api(['rmu', `-tag=${XRAY_INBOUND_TAG}`, ...remove]);
        for (const id of remove) this.given.delete(id);
        expectCount(r, /Removed (\d+) user/, remove.length, 'remove');
      }
      if (add.length > 0) {
        // `adu` builds a whole inbound from this JSON only to take its users: it needs a port to build.
        const { listen, port } = this.opts.inbound;
        const payload = JSON.stringify({ inbounds: [{ tag: XRAY_INBOUND_TAG, listen, port, protocol: 'vless', settings: { clients: clientsOf(add), decryption: 'none' } }] });
        const r = await this.api(['adu', 'stdin:'], payload);
        const n = Number(/Added (\d+) user/.exec(r.stdout)?.[1] ?? -1);
        // Record what really went in even on a partial failure, so the next apply repairs the rest.
        const now = new Set(await this.heldIds());
        for (const u of add) if (now.has(u.id)) this.given.set(u.id, u.secret);
        if (n !== add.length) throw new DammError('internal', `xray added ${n} of ${add.length} users: ${r.stdout.split('\n').filter((l) => !/^(add user|processing|result)/.test(l)).join(' ').trim()}`);
      }
      await writeFileDurably(this.opts.configPath, renderXrayConfig(this.opts, desired));
    });
  }

  async actual(): Promise<string[]> {
    return (await this.heldIds()).sort();
  }

  async counters(): Promise<Map<string, ProxyCounters>> {
    const r = await this.api(['statsquery', '-pattern', 'user>>>']);
    if (r.code !== 0) throw new DammError('store_unavailable', `xray statsquery failed: ${r.stderr.trim()}`);
    return countersFromStats(r.stdout || '{}');
  }

  private async heldIds(): Promise<string[]> {
    const r = await this.api(['inbounduser', `-tag=${XRAY_INBOUND_TAG}`]);
    if (r.code !== 0) throw new DammError('store_unavailable', `xray inbounduser failed: ${r.stderr.trim() || r.stdout.trim()}`);
    const parsed = JSON.parse(r.stdout || '{}') as { users?: Array<{ email?: string }> };
    return (parsed.users ?? []).map((u) => String(u.email));
  }

  /** One `xray api …` call: argument array, optional stdin, bounded. */
  private api(args: string[], stdin = ''): Promise<ApiResult> {
    const [cmd, ...pre] = this.command;
    return new Promise((resolve, reject) => {
      // Go's flag parsing stops at the first positional argument: the shared flags go first.
      const child = spawn(cmd!, [...pre, 'api', args[0]!, `-s=${this.opts.apiAddress}`, '-t=5', ...args.slice(1)], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), this.timeoutMs);
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.stdin.on('error', () => undefined);
      child.once('error', (e) => (clearTimeout(timer), reject(new DammError('internal', `xray api could not start: ${e.message}`))));
      child.once('close', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })));
      child.stdin.end(stdin);
    });
  }
}

function expectCount(r: ApiResult, re: RegExp, want: number, what: string): void {
  const n = Number(re.exec(r.stdout)?.[1] ?? -1);
  if (n !== want) throw new DammError('internal', `xray could ${what} ${n} of ${want} users: ${r.stdout.trim()} ${r.stderr.trim()}`);
}
