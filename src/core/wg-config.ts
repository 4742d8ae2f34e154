/**
 * Renders the client's WireGuard .conf. Runs in the browser (the private key
 * never leaves it) and in tests; the output is what `wg-quick` and the
 * WireGuard apps import.
 *
 * `peerPublicKey` and `endpoint` must come from a door of a VERIFIED catalog
 * (core/door-binding.ts bindFrontDoor), never from the unsigned enroll
 * answer; the addresses, DNS, allowed IPs and keepalive are the device's own
 * settings and may come from the answer (docs/threat-model.md).
 */
import type { FrontDoor } from './api-schemas.js';
import type { DoorProtocol } from './doors.js';
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
  /** Protocol-specific [Interface] lines (AmneziaWG's Jc, S1, H1, ...), after Address and DNS. */
  interfaceLines?: string[];
}

/**
 * The [Interface] lines a protocol adds to the WireGuard config, from the
 * door's verified public parameters; null: this build cannot render that
 * protocol. The AmneziaWG entry comes from core/amneziawg.ts.
 */
export const PROTOCOL_INTERFACE_LINES: Record<DoorProtocol, ((door: FrontDoor) => string[]) | null> = {
  wireguard: (door) => {
    if (door.params !== null) throw new DammError('invalid_argument', `Door ${door.id} is plain WireGuard but carries parameters.`);
    return [];
  },
  amneziawg: null,
};

/**
 * The config for one door of the verified catalog (core/door-binding.ts
 * bindEnrolledDoors): its key and endpoint, its protocol's lines, and the
 * device's addresses in that door's tunnel.
 */
export function renderDoorConfig(
  door: FrontDoor,
  device: Omit<ClientConfigInput, 'peerPublicKey' | 'endpoint' | 'interfaceLines'>,
): string {
  const lines = PROTOCOL_INTERFACE_LINES[door.protocol];
  if (!lines) throw new DammError('unsupported', `This version cannot render a ${door.protocol} configuration yet.`, { details: { protocol: door.protocol, doorId: door.id } });
  return renderClientConfig({ ...device, peerPublicKey: door.publicKey, endpoint: door.endpoint, interfaceLines: lines(door) });
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
  for (const l of i.interfaceLines ?? []) lines.push(clean(l));
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

/** A tunnel name WireGuard apps accept: at most 15 of [a-zA-Z0-9_=+.-]. */
export function tunnelName(prefix: string, region: string): string {
  const name = `${prefix}-${region}`.replace(/[^a-zA-Z0-9_=+.-]/g, '').slice(0, 15);
  return name.length ? name : 'damm';
}
