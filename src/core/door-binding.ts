/**
 * Binds an enrollment answer to the signed catalog. The /v1/enroll answer is
 * not signed: a tampering server or proxy could put any endpoint and gateway
 * key in it. So the answer only NAMES a front door (by its catalog id), and a
 * client renders a device config from that door as it appears in a catalog it
 * verified (core/catalog.ts verifyCatalog), never from the answer's copy.
 *
 * The answer's copy is still compared field by field: a server that names
 * door X but describes another is either broken or lying, and the person is
 * told so instead of getting a config.
 *
 * What the answer may still decide: the device's own addresses, allowed IPs,
 * DNS and keepalive. Those are the device's own settings, not a trust anchor:
 * a wrong value breaks this device's tunnel, it cannot send the traffic to a
 * gateway the operator did not sign for (docs/threat-model.md).
 */
import type { FrontDoor } from './api-schemas.js';
import { DammError } from './errors.js';
import { offsetInPools } from './ipam.js';

/** The door fields the catalog is the authority for. */
const SIGNED_FIELDS = ['gatewayId', 'region', 'country', 'tier', 'endpoint', 'publicKey', 'protocol', 'params', 'tunnel'] as const;

/** Equal as JSON values, whatever the key order (params and tunnel are objects). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/**
 * The catalog's door named by the answer. Throws DammError('record_invalid')
 * with reason door_not_in_catalog or door_mismatch, and a sentence a person
 * can read, when the answer names no door of the verified catalog or
 * describes it differently.
 */
export function bindFrontDoor(answer: Pick<FrontDoor, 'id'> & Partial<FrontDoor>, verifiedDoors: readonly FrontDoor[]): FrontDoor {
  const door = verifiedDoors.find((d) => d.id === answer.id);
  if (!door) {
    throw new DammError(
      'record_invalid',
      'The service connected you to a gateway that is not on its signed gateway list, so this page will not give you a configuration for it.',
      { details: { reason: 'door_not_in_catalog', doorId: String(answer.id).slice(0, 120) } },
    );
  }
  const differs = SIGNED_FIELDS.filter((f) => answer[f] !== undefined && !sameValue(answer[f], door[f]));
  if (differs.length > 0) {
    const what = differs.includes('publicKey') ? "the gateway's key" : differs.includes('endpoint') ? "the gateway's address" : 'the gateway';
    throw new DammError(
      'record_invalid',
      `The service described ${what} differently from its signed gateway list, so this page will not give you a configuration: someone may be tampering with your connection to the service.`,
      { details: { reason: 'door_mismatch', doorId: door.id, fields: differs } },
    );
  }
  return door;
}

/** A door the device may use: the verified catalog entry and the device's addresses inside its tunnel. */
export interface BoundDoor {
  door: FrontDoor;
  addresses: { ipv4: string; ipv6: string };
}

/**
 * Binds every door an enrollment answer names (`doors`: id + the device's
 * addresses on that door) to the verified catalog, the primary `frontDoor`
 * first. Refuses (record_invalid) an id missing from the catalog, a door of
 * another gateway than the primary one, and addresses that are not one
 * device offset inside that door's signed `tunnel`: an unsigned answer
 * cannot move a device onto another door's addresses or another gateway.
 */
export function bindEnrolledDoors(
  answer: { frontDoor: Pick<FrontDoor, 'id'> & Partial<FrontDoor>; doors: ReadonlyArray<{ id: string; addresses: { ipv4: string; ipv6: string } }> },
  verifiedDoors: readonly FrontDoor[],
): BoundDoor[] {
  const primary = bindFrontDoor(answer.frontDoor, verifiedDoors);
  const out: BoundDoor[] = [];
  for (const named of answer.doors) {
    const door = bindFrontDoor({ id: named.id }, verifiedDoors);
    if (door.gatewayId !== primary.gatewayId) {
      throw new DammError('record_invalid', 'The service named a door of another gateway than the one you were placed on, so this page will not give you a configuration for it.', {
        details: { reason: 'door_mismatch', doorId: door.id },
      });
    }
    if (offsetInPools(door.tunnel, named.addresses) === null) {
      throw new DammError('record_invalid', "The service gave this device addresses outside the door's signed tunnel prefixes, so this page will not give you a configuration for it.", {
        details: { reason: 'address_outside_door', doorId: door.id },
      });
    }
    out.push({ door, addresses: { ipv4: named.addresses.ipv4, ipv6: named.addresses.ipv6 } });
  }
  const first = out.findIndex((d) => d.door.id === primary.id);
  if (first < 0) {
    throw new DammError('record_invalid', 'The service did not list your primary door among your doors, so this page will not give you a configuration.', {
      details: { reason: 'door_not_in_catalog', doorId: primary.id },
    });
  }
  return [out[first]!, ...out.filter((_, i) => i !== first)];
}
