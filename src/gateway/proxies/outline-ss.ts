/**
 * Driver for Outline's Shadowsocks server, outline-ss-server (pinned v1.9.2,
 * docs/doors.md), behind the proxy port (port.ts).
 *
 * - Config: the server's "services" format (v1.9+): one service whose TCP and
 *   UDP listeners share one port (T2), optionally WebSocket stream/packet
 *   listeners on a local web server for Caddy to front with TLS (T3), and
 *   every access key with chacha20-ietf-poly1305 (the cipher the Outline apps
 *   and Outline's own manager use). It is written as JSON, which is YAML too
 *   (the server reads it with yaml.v3): no YAML library, and no quoting rules
 *   to get wrong for an id or a secret.
 * - Changes: the file is replaced durably (src/io/durable-file.ts), then the
 *   server is sent SIGHUP. It opens the new listeners set beside the old
 *   (sharing sockets) and closes the old set: connections already open keep
 *   running, so users that stay are not cut. A reload is confirmed by the
 *   server's own "Loaded config. access_keys=N" log line; a refused one
 *   ("Failed to update server") fails the call.
 * - Actual set: the key ids of the config the server last confirmed loading,
 *   cross-checked against its `shadowsocks_keys` gauge; a mismatch (someone
 *   edited the file, a reload failed) reports drift by throwing.
 * - Counters: `shadowsocks_data_bytes{dir,access_key}` from its metrics
 *   endpoint (dir c>p = from the device, c<p = to the device; p>t and
 *   p<t are the target side).
 */
import { readFile } from 'node:fs/promises';
import { DammError } from '../../core/errors.js';
import { writeFileDurably } from '../../io/durable-file.js';
import { ChildServerDriver, startServerChild, type ServerChild } from './child.js';
import { samplesOf } from './prom-text.js';
import { checkProxyUsers } from './users.js';
import { isDoorPath, SHADOWSOCKS_CIPHER } from '../../core/proxy-config.js';
import type { ProxyCounters, ProxyServer, ProxyUser } from './port.js';

export interface OutlineSsListeners {
  /** "host:port" of the TCP and UDP listeners, e.g. "[::]:443" or ":443". */
  address: string;
  /** WebSocket transport (T3): a plain-HTTP web server on a local address, fronted by Caddy with TLS. */
  webSocket?: { listen: string; tcpPath: string; udpPath: string };
}

export interface OutlineSsOptions {
  configPath: string;
  listeners: OutlineSsListeners;
  /** "host:port" of the Prometheus endpoint (keep it on loopback in production). */
  metricsAddress: string;
  /** The server's command, default ['outline-ss-server']; a test prefixes `ip netns exec NS`. */
  command?: readonly string[];
  /** Bound on a start or a reload, ms (default 10 s). */
  timeoutMs?: number;
}


/** The config file's text: JSON in the server's v1.9 "services" YAML schema. */
export function renderOutlineSsConfig(listeners: OutlineSsListeners, users: readonly ProxyUser[]): string {
  checkProxyUsers('shadowsocks', users);
  const ws = listeners.webSocket;
  if (ws && (!isDoorPath(ws.tcpPath) || !isDoorPath(ws.udpPath) || ws.tcpPath === ws.udpPath)) {
    throw new DammError('invalid_argument', 'WebSocket paths must be two different absolute paths of URL-safe characters.');
  }
  const list: Record<string, string>[] = [
    { type: 'tcp', address: listeners.address },
    { type: 'udp', address: listeners.address },
  ];
  if (ws) {
    list.push({ type: 'websocket-stream', web_server: 'damm', path: ws.tcpPath });
    list.push({ type: 'websocket-packet', web_server: 'damm', path: ws.udpPath });
  }
  const config = {
    ...(ws ? { web: { servers: [{ id: 'damm', listen: [ws.listen] }] } } : {}),
    services: [{ listeners: list, keys: users.map((u) => ({ id: u.id, cipher: SHADOWSOCKS_CIPHER, secret: u.secret })) }],
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** Key ids of a config file this module wrote. */
export function keyIdsOfConfig(text: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new DammError('config_invalid', 'The outline-ss-server config on disk is not the JSON this driver writes.', { cause });
  }
  const services = (parsed as { services?: Array<{ keys?: Array<{ id?: unknown }> }> }).services ?? [];
  return services.flatMap((s) => (s.keys ?? []).map((k) => String(k.id)));
}

/** Per-key bytes from the server's Prometheus text. */
export function countersFromMetrics(text: string): Map<string, ProxyCounters> {
  const out = new Map<string, ProxyCounters>();
  for (const s of samplesOf(text, 'shadowsocks_data_bytes')) {
    const key = s.labels['access_key'];
    const dir = s.labels['dir'];
    if (!key || (dir !== 'c>p' && dir !== 'c<p')) continue;
    const c = out.get(key) ?? { rxBytes: 0n, txBytes: 0n };
    if (dir === 'c>p') c.rxBytes += BigInt(Math.round(s.value));
    else c.txBytes += BigInt(Math.round(s.value));
    out.set(key, c);
  }
  return out;
}

const LOADED = /Loaded config\.\s+access_keys=(\d+)/;
const REFUSED = /Failed to update server|Server failed to start/;

export class OutlineSsServer extends ChildServerDriver implements ProxyServer {
  /** Ids the server confirmed loading last. */
  private confirmed: string[] = [];
  /** Whether the metrics endpoint has answered once (before that, start-up may still be binding it). */
  private metricsUp = false;

  constructor(private readonly opts: OutlineSsOptions) {
    super('outline-ss-server');
  }

  private get timeoutMs(): number {
    return this.opts.timeoutMs ?? 10_000;
  }


  start(initial: readonly ProxyUser[]): Promise<void> {
    return this.serial(async () => {
      if (this.child) throw new DammError('conflict', 'outline-ss-server is already running.');
      const text = renderOutlineSsConfig(this.opts.listeners, initial);
      await writeFileDurably(this.opts.configPath, text);
      const argv = [...(this.opts.command ?? ['outline-ss-server']), '-config', this.opts.configPath, '-metrics', this.opts.metricsAddress];
      const child = startServerChild(argv, 'outline-ss-server');
      this.child = child;
      try {
        this.confirm(await this.loaded(child, 0, 'config_invalid'), initial);
        await this.metricsText(); // the endpoint answers before start() returns
      } catch (err) {
        await child.stop();
        this.child = undefined;
        throw err;
      }
    });
  }

  apply(desired: readonly ProxyUser[]): Promise<void> {
    return this.serial(async () => {
      const child = this.running();
      const text = renderOutlineSsConfig(this.opts.listeners, desired); // throws before anything is written
      await writeFileDurably(this.opts.configPath, text);
      const since = child.mark();
      child.signal('SIGHUP');
      this.confirm(await this.loaded(child, since, 'internal'), desired);
    });
  }

  /** The server's own word on a (re)load after line `since`: its "Loaded config." line, or a refusal as `code`. */
  private loaded(child: ServerChild, since: number, code: 'config_invalid' | 'internal'): Promise<string> {
    return Promise.race([
      child.waitForLine(LOADED, since, this.timeoutMs),
      child.waitForLine(REFUSED, since, this.timeoutMs).then((l) => Promise.reject(new DammError(code, `outline-ss-server refused the config: ${l}`))),
    ]);
  }

  private confirm(line: string, users: readonly ProxyUser[]): void {
    const n = Number(LOADED.exec(line)?.[1]);
    // The server skips duplicate secrets, so its count can be lower than ours: that is drift too.
    if (n !== users.length) throw new DammError('internal', `outline-ss-server loaded ${n} keys, ${users.length} were written.`);
    this.confirmed = users.map((u) => u.id);
  }

  async actual(): Promise<string[]> {
    const text = await this.metricsText();
    const gauge = samplesOf(text, 'shadowsocks_keys')[0]?.value;
    const onDisk = keyIdsOfConfig(await readFile(this.opts.configPath, 'utf8'));
    const same = onDisk.length === this.confirmed.length && onDisk.every((id, i) => id === this.confirmed[i]);
    if (gauge !== this.confirmed.length || !same) {
      throw new DammError('internal', `outline-ss-server drifted: it reports ${gauge} keys, ${this.confirmed.length} were confirmed, the file lists ${onDisk.length}.`, {
        details: { reported: gauge, confirmed: this.confirmed.length, onDisk: onDisk.length },
      });
    }
    return [...this.confirmed];
  }

  async counters(): Promise<Map<string, ProxyCounters>> {
    return countersFromMetrics(await this.metricsText());
  }

  private async metricsText(): Promise<string> {
    const url = `http://${this.opts.metricsAddress}/metrics`;
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
        if (res.ok) {
          this.metricsUp = true;
          return await res.text();
        }
        throw new Error(`HTTP ${res.status}`);
      } catch (cause) {
        // Only start-up races the listener; afterwards a failure is reported at once.
        if (Date.now() > deadline || this.metricsUp || this.child === undefined) {
          throw new DammError('store_unavailable', `outline-ss-server metrics at ${url} did not answer.`, { cause });
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}
