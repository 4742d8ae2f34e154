/**
 * The exact text a stock proxy app imports for a DAMM proxy door (pure,
 * browser-safe): the Outline apps' `ss://` access key (SIP002) and their
 * dynamic-access-key YAML for the WebSocket transport, and `vless://` share
 * links as v2rayNG, Hiddify, sing-box-based apps and Xray import them.
 * Rendered only from verified catalog data plus the device's own secret.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { DammError } from './errors.js';
import { concatBytes, toBase64Url, utf8 } from './bytes.js';
import { isProxyCredential } from './proxy-credential.js';

export const SHADOWSOCKS_CIPHER = 'chacha20-ietf-poly1305';

const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/;

/** host:port for a URL authority: IPv6 bracketed, everything validated. */
export function authority(host: string, port: number): string {
  if (typeof host !== 'string' || !HOST_RE.test(host) || host.length > 253) throw new DammError('invalid_argument', `Not a host name or IP address: ${JSON.stringify(host)}.`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DammError('invalid_argument', `Not a port: ${port}.`);
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function checkSecret(secret: string): void {
  if (!isProxyCredential('shadowsocks', secret)) throw new DammError('invalid_argument', 'A Shadowsocks secret is 32 random bytes in base64url (43 characters).');
}

/** A WebSocket path of a door (catalog data): absolute, URL-safe characters only. */
export function isDoorPath(path: string): boolean {
  return typeof path === 'string' && /^\/[A-Za-z0-9._~/-]{1,200}$/.test(path);
}

/**
 * SIP002 access key as the Outline apps import it (and as Outline's own
 * server hands them out): userinfo is base64url, unpadded, of
 * "method:password"; `/?outline=1` marks it for the Outline apps; the
 * fragment names the key in the app's list.
 */
export function shadowsocksAccessKey(p: { host: string; port: number; secret: string; name?: string }): string {
  checkSecret(p.secret);
  const userinfo = toBase64Url(utf8.encode(`${SHADOWSOCKS_CIPHER}:${p.secret}`));
  const name = p.name ? `#${encodeURIComponent(p.name)}` : '';
  return `ss://${userinfo}@${authority(p.host, p.port)}/?outline=1${name}`;
}

/** A YAML double-quoted scalar: JSON's string syntax is a subset of it, so JSON.stringify quotes safely. */
const yamlString = (s: string): string => JSON.stringify(s);

/**
 * The Outline apps' dynamic access key config for Shadowsocks over
 * WebSocket over TLS (T3): a `tcpudp` transport whose TCP and UDP legs are
 * Shadowsocks with a `websocket` endpoint at `wss://host/path` (the format of
 * Outline's "Access Key Configuration" reference). The device's own secret is
 * inside, so only the gateway serves it, at a capability URL (`ssconf://`).
 */
export function outlineWebSocketConfig(p: { host: string; port?: number; tcpPath: string; udpPath: string; secret: string }): string {
  checkSecret(p.secret);
  if (!isDoorPath(p.tcpPath) || !isDoorPath(p.udpPath)) throw new DammError('invalid_argument', 'WebSocket paths must be absolute and URL-safe.');
  // The default port stays implicit, as in a URL a person would write.
  const port = p.port ?? 443;
  const origin = `wss://${port === 443 ? authority(p.host, 443).slice(0, -':443'.length) : authority(p.host, port)}`;
  const leg = (path: string) => [
    '    $type: shadowsocks',
    '    endpoint:',
    '      $type: websocket',
    `      url: ${yamlString(origin + path)}`,
    `    cipher: ${SHADOWSOCKS_CIPHER}`,
    `    secret: ${yamlString(p.secret)}`,
  ];
  return ['transport:', '  $type: tcpudp', '  tcp:', ...leg(p.tcpPath), '  udp:', ...leg(p.udpPath), ''].join('\n');
}

/**
 * A `vless://` share link for VLESS over WebSocket + TLS, in the form
 * v2rayN/v2rayNG, Hiddify, NekoBox and Xray's community share-link standard
 * use: `vless://UUID@host:port?type=ws&security=tls&sni=…&host=…&path=…#name`.
 * `encryption=none` is explicit (VLESS has no encryption of its own; TLS does it).
 */
export function vlessShareLink(p: { host: string; port: number; uuid: string; path: string; sni: string; fingerprint?: string; name?: string }): string {
  if (!isProxyCredential('vless', p.uuid)) throw new DammError('invalid_argument', 'A VLESS id is a lower-case version-4 UUID.');
  if (!isDoorPath(p.path)) throw new DammError('invalid_argument', 'The WebSocket path must be absolute and URL-safe.');
  authority(p.sni, 443); // validates the name
  const q = new URLSearchParams({ encryption: 'none', security: 'tls', sni: p.sni, fp: p.fingerprint ?? 'chrome', alpn: 'http/1.1', type: 'ws', host: p.sni, path: p.path });
  // URLSearchParams writes spaces as '+'; nothing here has one, and '/' must be %2F for every importer.
  const query = q.toString().replace(/\+/g, '%20');
  const name = p.name ? `#${encodeURIComponent(p.name)}` : '';
  return `vless://${p.uuid}@${authority(p.host, p.port)}?${query}${name}`;
}

const CAPABILITY_LABEL = utf8.encode('DAMM dynamic access key v1\0');

/**
 * Where the gateway serves a device's dynamic-key YAML: `prefix/` + the
 * base64url SHA-256 of a label and the device's Shadowsocks secret. Only the
 * device and the gateway (which opens the sealed secret) can compute it; the
 * control plane, which never sees the secret, cannot, and the path reveals
 * nothing of the secret.
 */
export function dynamicKeyPath(prefix: string, secret: string): string {
  checkSecret(secret);
  if (!/^\/[A-Za-z0-9._~-]{1,64}$/.test(prefix)) throw new DammError('invalid_argument', 'The dynamic-key prefix is one absolute URL-safe path segment.');
  return `${prefix}/${toBase64Url(sha256(concatBytes(CAPABILITY_LABEL, utf8.encode(secret))))}`;
}

/** The `ssconf://` dynamic access key the Outline apps import: they fetch it as https:// with the same host and path. */
export function outlineDynamicKey(p: { host: string; port?: number; prefix: string; secret: string; name?: string }): string {
  const port = p.port ?? 443;
  const where = port === 443 ? authority(p.host, 443).slice(0, -':443'.length) : authority(p.host, port);
  const name = p.name ? `#${encodeURIComponent(p.name)}` : '';
  return `ssconf://${where}${dynamicKeyPath(p.prefix, p.secret)}${name}`;
}
