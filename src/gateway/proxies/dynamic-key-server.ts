/**
 * Serves each device's Outline dynamic access key (the YAML config of the
 * Shadowsocks-over-WebSocket door, src/core/proxy-config.ts) at its
 * capability path, from the gateway, never from the control plane: the
 * config holds the device's secret. Plain HTTP on a loopback address; Caddy
 * in front serves it over TLS on the door's hostname (docs/doors.md).
 *
 * Only GET/HEAD of an exact capability path answer 200; everything else is
 * 404 (405 for other methods), so a probe learns nothing. Paths are
 * capabilities: they are never logged.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dynamicKeyPath, outlineWebSocketConfig } from '../../core/proxy-config.js';
import type { ProxyUser } from './port.js';

export interface DynamicKeyDoor {
  /** The door's TLS hostname (catalog), and port when not 443. */
  host: string;
  port?: number;
  /** Capability prefix, e.g. "/c" (Caddy routes it here). */
  prefix: string;
  tcpPath: string;
  udpPath: string;
}

export class DynamicKeyServer {
  private configs = new Map<string, string>();
  private server: http.Server | undefined;

  constructor(private readonly door: DynamicKeyDoor) {}

  /** Replace the served set (call with the door's desired users on every apply). Invalid users throw and change nothing. */
  set(users: readonly ProxyUser[]): void {
    const next = new Map<string, string>();
    for (const u of users) {
      next.set(dynamicKeyPath(this.door.prefix, u.secret), outlineWebSocketConfig({ host: this.door.host, port: this.door.port, tcpPath: this.door.tcpPath, udpPath: this.door.udpPath, secret: u.secret }));
    }
    this.configs = next;
  }

  /** Number of configs served (for tests and the heartbeat; never the paths). */
  get size(): number {
    return this.configs.size;
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const server = http.createServer((req, res) => {
      res.setHeader('cache-control', 'no-store');
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.statusCode = 405;
        res.setHeader('allow', 'GET, HEAD');
        return res.end();
      }
      const path = (req.url ?? '').split('?')[0]!;
      const body = this.configs.get(path);
      if (body === undefined) {
        res.statusCode = 404;
        return res.end();
      }
      res.setHeader('content-type', 'text/yaml; charset=utf-8');
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
