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

/** The door fields the catalog is the authority for. */
const SIGNED_FIELDS = ['gatewayId', 'region', 'country', 'tier', 'endpoint', 'publicKey'] as const;

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
  const differs = SIGNED_FIELDS.filter((f) => answer[f] !== undefined && answer[f] !== door[f]);
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
