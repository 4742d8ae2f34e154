/**
 * Renders the client's WireGuard .conf. Runs in the browser (the private key
 * never leaves it) and in tests; the output is what `wg-quick` and the
 * WireGuard apps import.
 *
 * `peerPublicKey` and `endpoint` must come from a door of a VERIFIED catalog
 * (core/door-binding.ts; core/door-config.ts renders a bound door, whatever
 * its protocol), never from the unsigned enroll
 * answer; the addresses, DNS, allowed IPs and keepalive are the device's own
 * settings and may come from the answer (docs/threat-model.md).
 */
import { DammError } from './errors.js';
import { isWireGuardKey } from './wg-key.js';

export interface ClientConfigInput {
  privateKey: string;
  addresses: { ipv4: string; ipv6: string };
  dns: string[];
  peerPublicKey: string;
  endpoint: string;
  allowedIps?: string[];
  persistentKeepalive?: number;
}

export function renderClientConfig(i: ClientConfigInput): string {
  if (!isWireGuardKey(i.privateKey) || !isWireGuardKey(i.peerPublicKey)) {
    throw new DammError('invalid_argument', 'Config needs a valid private key and gateway public key.');
  }
  // Refuse anything that could inject a line into the config.
  const clean = (s: string) => {
    if (/[\r\n]/.test(s)) throw new DammError('invalid_argument', 'Config values must be single-line.');
    return s;
  };
  const lines = [
    '[Interface]',
    `PrivateKey = ${i.privateKey}`,
    `Address = ${clean(i.addresses.ipv4)}/32, ${clean(i.addresses.ipv6)}/128`,
  ];
  if (i.dns.length) lines.push(`DNS = ${i.dns.map(clean).join(', ')}`);
  lines.push(
    '',
    '[Peer]',
    `PublicKey = ${i.peerPublicKey}`,
    `Endpoint = ${clean(i.endpoint)}`,
    `AllowedIPs = ${(i.allowedIps ?? ['0.0.0.0/0', '::/0']).map(clean).join(', ')}`,
    `PersistentKeepalive = ${i.persistentKeepalive ?? 25}`,
    '',
  );
  return lines.join('\n');
}

/**
 * A tunnel name WireGuard apps accept: at most 15 of [a-zA-Z0-9_=+.-].
 * `suffix` (e.g. a door's port, "awg") is kept whole and the prefix-region
 * part is cut to make room for it, so two doors of one gateway never end up
 * with the same name however long the region is.
 */
export function tunnelName(prefix: string, region: string, suffix = ''): string {
  const safe = (s: string) => s.replace(/[^a-zA-Z0-9_=+.-]/g, '');
  const tail = safe(suffix) ? `-${safe(suffix)}`.slice(0, 15) : '';
  const name = safe(`${prefix}-${region}`).slice(0, 15 - tail.length) + tail;
  return name.length ? name : 'damm';
}
