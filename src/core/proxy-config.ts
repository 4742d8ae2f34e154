/**
 * The exact text a stock proxy app imports for a DAMM proxy door (pure,
 * browser-safe): the Outline apps' `ss://` access key (SIP002) and their
 * dynamic-access-key YAML for the WebSocket transport, and `vless://` share
 * links as v2rayNG, Hiddify, sing-box-based apps and Xray import them.
 * Rendered only from verified catalog data plus the device's own secret.
 */
import { DammError } from './errors.js';
import { utf8 } from './bytes.js';

export const SHADOWSOCKS_CIPHER = 'chacha20-ietf-poly1305';

function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/;

/** host:port for a URL authority: IPv6 bracketed, everything validated. */
export function authority(host: string, port: number): string {
  if (typeof host !== 'string' || !HOST_RE.test(host) || host.length > 253) throw new DammError('invalid_argument', `Not a host name or IP address: ${JSON.stringify(host)}.`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DammError('invalid_argument', `Not a port: ${port}.`);
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function checkSecret(secret: string): void {
  if (typeof secret !== 'string' || !/^[A-Za-z0-9+/=_-]{16,128}$/.test(secret)) {
    throw new DammError('invalid_argument', 'A Shadowsocks secret is 16-128 characters of base64 or base64url.');
  }
}

/**
 * SIP002 access key as the Outline apps import it (and as Outline's own
 * server hands them out): userinfo is base64url, unpadded, of
 * "method:password"; `/?outline=1` marks it for the Outline apps; the
 * fragment names the key in the app's list.
 */
export function shadowsocksAccessKey(p: { host: string; port: number; secret: string; name?: string }): string {
  checkSecret(p.secret);
  const userinfo = base64url(utf8.encode(`${SHADOWSOCKS_CIPHER}:${p.secret}`));
  const name = p.name ? `#${encodeURIComponent(p.name)}` : '';
  return `ss://${userinfo}@${authority(p.host, p.port)}/?outline=1${name}`;
}
