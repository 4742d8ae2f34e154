/**
 * Pieces of the proxy-door tests: a gateway and a client namespace joined by
 * a veth on 198.18.0.0/15 addresses (outline-ss-server refuses to dial
 * private and loopback targets, RFC 2544's benchmark range is neither and
 * never leaves these namespaces), the web target in the gateway namespace,
 * and real clients run in the client namespace. Argument arrays, no shell;
 * every process dies with the kit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import { useNetnsKit, type NetnsKit } from '../../helpers/netns.js';
import { rootVeth } from '../../e2e/kit.js';
import { startServerChild, type ServerChild } from '../../../src/gateway/proxies/child.js';

const TARGET = fileURLToPath(new URL('./http-target.mjs', import.meta.url));

export interface ProxyNet {
  kit: NetnsKit;
  gw: string;
  client: string;
  /** Gateway address the client reaches (proxy listeners and the web target bind it). */
  gwIp: string;
  /** Gateway address the test process (root namespace) reaches, for metrics and APIs. */
  gwMgmtIp: string;
  dir: string;
  target: ServerChild;
  targetPort: number;
  /** Run a program in a namespace and keep it (killed by the kit). */
  spawnIn(ns: string, argv: string[], what: string): ServerChild;
}

/** The door servers and real clients these tests run; a missing one fails the file loudly (never a skip). */
export function requireProxyTools(extra: string[] = []): void {
  const missing = ['outline-ss-server', 'xray', 'outline-fetch', 'outline-resolve', 'curl', 'openssl', ...extra].filter(
    (bin) => !(process.env['PATH'] ?? '').split(delimiter).some((dir) => existsSync(path.join(dir, bin))),
  );
  if (missing.length > 0) {
    throw new Error(`${process.env['CI'] ? 'CI MISCONFIGURED: ' : ''}proxy door tests need ${missing.join(', ')} in PATH: .ci/run builds the pinned servers and clients (docs/doors.md) and installs caddy, curl and openssl from Debian.`);
  }
}

export async function proxyNet(subnet: number): Promise<ProxyNet> {
  requireProxyTools();
  const kit = useNetnsKit();
  const gw = await kit.namespace();
  const client = await kit.namespace();
  const gwIp = `198.18.${subnet}.1`;
  await kit.veth(gw, `${gwIp}/24`, client, `198.18.${subnet}.2/24`);
  const { inner: gwMgmtIp } = await rootVeth(gw);
  const dir = mkdtempSync(path.join(tmpdir(), 'px-'));
  const children: ServerChild[] = [];
  after(async () => {
    for (const c of children) await c.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const spawnIn = (ns: string, argv: string[], what: string): ServerChild => {
    const c = startServerChild(['ip', 'netns', 'exec', ns, ...argv], what);
    children.push(c);
    return c;
  };
  const targetPort = 8080;
  const target = spawnIn(gw, [process.execPath, TARGET, gwIp, String(targetPort)], 'web target');
  await target.waitForLine(/^listening/, 0, 15_000);
  return { kit, gw, client, gwIp, gwMgmtIp, dir, target, targetPort, spawnIn };
}

export interface ClientRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Run a client to completion in `ns`, collecting its whole stdout as bytes. */
export function runClient(ns: string, argv: string[], timeoutMs = 60_000): { done: Promise<ClientRun>; child: ChildProcess; received: () => number } {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let n = 0;
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out.push(b), (n += b.length)));
  child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<ClientRun>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    }),
  );
  return { done, child, received: () => n };
}

/** A CA and a server certificate for `name`, made for this test with openssl (argument arrays). */
export async function testCertificate(dir: string, name: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const { runOk } = await import('../../helpers/netns.js');
  const caKey = path.join(dir, 'ca.key');
  const caFile = path.join(dir, 'ca.pem');
  const keyFile = path.join(dir, 'door.key');
  const certFile = path.join(dir, 'door.pem');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await runOk(['openssl', 'req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=DAMM proxy test CA']);
  await runOk([
    'openssl', 'req', '-x509', ...ec, '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`,
    '-CA', caFile, '-CAkey', caKey, '-addext', `subjectAltName=DNS:${name}`, '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth',
  ]);
  return { caFile, certFile, keyFile };
}

/**
 * The Outline SDK transport for a Shadowsocks-over-WebSocket dynamic key:
 * the served YAML (core/proxy-config outlineWebSocketConfig), read the way
 * the Outline app reads it (tcp leg: websocket endpoint URL, cipher,
 * secret), expressed in the SDK's transport syntax: TLS to the URL's host,
 * WebSocket on its path, Shadowsocks inside. The app's YAML reader lives in
 * outline-apps, which the Go module proxy here does not serve.
 */
export function outlineWsTransport(yaml: string): string {
  const tcp = yaml.slice(yaml.indexOf('  tcp:'), yaml.indexOf('  udp:'));
  const wsUrl = new URL(JSON.parse(/url: (".*")/.exec(tcp)![1]!) as string);
  const cipher = /cipher: (\S+)/.exec(tcp)![1]!;
  const secret = JSON.parse(/secret: (".*")/.exec(tcp)![1]!) as string;
  const ssUrl = `ss://${Buffer.from(`${cipher}:${secret}`).toString('base64url')}@${wsUrl.hostname}:${wsUrl.port || '443'}`;
  return `tls:sni=${wsUrl.hostname}|ws:tcp_path=${encodeURIComponent(wsUrl.pathname)}|${ssUrl}`;
}

/**
 * Xray client JSON for one `vless://` share link (as v2rayNG reads one:
 * type, security, sni, host, path, alpn, fp), with a SOCKS inbound for the
 * test's curl. The only thing not from the link is the test CA to trust,
 * where a phone trusts the public CA that signed the door's ACME certificate.
 */
export function xrayClientConfig(link: string, socksPort: number, caFile: string): string {
  const u = new URL(link);
  const q = u.searchParams;
  if (u.protocol !== 'vless:' || q.get('type') !== 'ws' || q.get('security') !== 'tls') throw new Error(`not a VLESS+WS+TLS link: ${link}`);
  return JSON.stringify({
    log: { loglevel: 'warning' },
    inbounds: [{ listen: '127.0.0.1', port: socksPort, protocol: 'socks', settings: { udp: false } }],
    outbounds: [{
      protocol: 'vless',
      settings: { vnext: [{ address: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port), users: [{ id: decodeURIComponent(u.username), encryption: q.get('encryption') ?? 'none' }] }] },
      streamSettings: {
        network: 'ws',
        wsSettings: { path: q.get('path'), host: q.get('host') },
        security: 'tls',
        tlsSettings: {
          serverName: q.get('sni'),
          fingerprint: q.get('fp') ?? undefined,
          alpn: q.get('alpn')?.split(','),
          certificates: [{ usage: 'verify', certificateFile: caFile }],
        },
      },
    }],
  });
}
