/**
 * What a gateway may register as its doors, checked beyond the schema's
 * shape (core/doors.ts names the lanes and protocols). Pure.
 */
import { DammError } from './errors.js';
import { validateAwgParams } from './amneziawg.js';
import { MAX_LANES, MAX_LANE_ENDPOINTS, type DoorProtocol } from './doors.js';

export interface LaneDoor {
  lane: number;
  protocol: DoorProtocol;
  tier: string;
  publicKey: string;
  params: unknown;
  endpoints: ReadonlyArray<{ host: string; port: number }>;
}

/**
 * What the schema cannot say about a gateway's doors: lanes distinct and
 * lane 0 plain WireGuard (the primary door every client can use); each lane
 * its own key (two interfaces with one key would be one identity on two
 * prefixes); parameters exactly where the protocol has them; no UDP port
 * claimed twice on one host (two interfaces cannot bind it); AmneziaWG
 * parameters within core/amneziawg.ts's ranges. Throws
 * invalid_argument naming the problem; returns the doors sorted by lane.
 */
export function checkLaneDoors<T extends LaneDoor>(doors: readonly T[]): T[] {
  const bad = (message: string, details: Record<string, unknown> = {}) => new DammError('invalid_argument', message, { details });
  if (doors.length < 1 || doors.length > MAX_LANES) throw bad(`A gateway registers 1 to ${MAX_LANES} lanes of doors.`);
  const sorted = [...doors].sort((a, b) => a.lane - b.lane);
  const lanes = new Set<number>();
  const keys = new Set<string>();
  const ports = new Map<string, number>();
  for (const d of sorted) {
    if (!Number.isInteger(d.lane) || d.lane < 0 || d.lane >= MAX_LANES) throw bad(`Lane ${d.lane} is outside 0..${MAX_LANES - 1}.`, { lane: d.lane });
    if (lanes.has(d.lane)) throw bad(`Lane ${d.lane} is registered twice.`, { lane: d.lane });
    lanes.add(d.lane);
    if (keys.has(d.publicKey)) throw bad(`Lane ${d.lane} uses the public key of another lane; every interface has its own key pair.`, { lane: d.lane });
    keys.add(d.publicKey);
    if (d.lane === 0 && d.protocol !== 'wireguard') throw bad('Lane 0 must be plain WireGuard (protocol "wireguard"): it is the door every client can use.');
    if (d.protocol === 'wireguard' && d.params !== null) throw bad(`Lane ${d.lane} is plain WireGuard and must carry no parameters (params: null).`, { lane: d.lane });
    if (d.protocol === 'amneziawg') {
      if (d.params === null || typeof d.params !== 'object') throw bad(`Lane ${d.lane} is AmneziaWG and needs its parameters.`, { lane: d.lane });
      try {
        validateAwgParams(d.params); // the ranges AmneziaWG 2.0 allows (and DAMM's tighter choices)
      } catch (err) {
        throw bad(`Lane ${d.lane}'s AmneziaWG parameters are not valid: ${(err as Error).message}`, { lane: d.lane, ...((err as DammError).details ?? {}) });
      }
    }
    if (d.endpoints.length < 1 || d.endpoints.length > MAX_LANE_ENDPOINTS) throw bad(`Lane ${d.lane} needs 1 to ${MAX_LANE_ENDPOINTS} endpoints.`, { lane: d.lane });
    for (const e of d.endpoints) {
      const where = `${e.host.toLowerCase()}|${e.port}`;
      const other = ports.get(where);
      if (other !== undefined) throw bad(`Port ${e.port} on ${e.host} is named twice (lanes ${other} and ${d.lane}); one UDP port serves one door.`, { lane: d.lane, port: e.port });
      ports.set(where, d.lane);
    }
  }
  if (!lanes.has(0)) throw bad('Lane 0 (the plain WireGuard interface) is required.');
  return sorted;
}
