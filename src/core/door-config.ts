/**
 * A device's config for one door of the verified catalog, in the text the
 * door's stock app imports: plain WireGuard (core/wg-config.ts) or AmneziaWG
 * (core/amneziawg.ts: the WireGuard config plus the door's Jc…I1 and MTU).
 * `door` must be a catalog entry bound by core/door-binding.ts
 * (bindEnrolledDoors), and `device.addresses` that door's addresses from the
 * same binding: the key, endpoint and parameters come only from the signed
 * catalog. Pure and browser-safe (the wizard runs it).
 */
import type { FrontDoor } from './api-schemas.js';
import type { DoorProtocol } from './doors.js';
import { DammError } from './errors.js';
import { renderAwgClientConfig, validateAwgParams } from './amneziawg.js';
import { renderClientConfig, type ClientConfigInput } from './wg-config.js';

/** What the device decides itself: its key, its addresses on this door, DNS, allowed IPs, keepalive. */
export type DeviceSettings = Omit<ClientConfigInput, 'peerPublicKey' | 'endpoint'>;

const RENDER: Record<DoorProtocol, (door: FrontDoor, input: ClientConfigInput) => string> = {
  wireguard: (door, input) => {
    if (door.params !== null) throw new DammError('invalid_argument', `Door ${door.id} is plain WireGuard but carries parameters.`);
    return renderClientConfig(input);
  },
  amneziawg: (door, input) => {
    if (door.params === null) throw new DammError('invalid_argument', `Door ${door.id} is AmneziaWG but carries no parameters.`);
    return renderAwgClientConfig(input, validateAwgParams(door.params));
  },
};

export function renderDoorConfig(door: FrontDoor, device: DeviceSettings): string {
  return RENDER[door.protocol](door, { ...device, peerPublicKey: door.publicKey, endpoint: door.endpoint });
}
