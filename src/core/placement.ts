/**
 * Placement: which front door a device gets, and an honest sentence on why.
 * A request is honoured when possible; otherwise the substitute is named
 * with the reason, never silently swapped (memo forecast 9).
 *
 * Within the gateways that fit, the least loaded one wins (ties by id). The
 * caller counts `load` as what is committed plus what it placed itself since
 * it last read that count (services/enroll.ts), so one process deals a burst
 * round-robin, and two processes that read the same counts at the same
 * instant each deal their own share evenly: their sum stays even. A weighted
 * random pick was rejected: 300 devices over 3 gateways has a standard
 * deviation of ~8 per gateway, so "within 10% of even" would fail about one
 * burst in two.
 */
import type { TransportTier } from './tiers.js';

export interface Candidate {
  gatewayId: string;
  name: string;
  region: string;
  country: string;
  online: boolean;
  /** Drained by the operator: keeps its devices, takes no new ones. */
  drained: boolean;
  load: number; // active devices placed there
  tiers: TransportTier[];
}

export interface PlacementRequest {
  region?: string | null;
  exitCountry?: string | null;
}

export interface PlacementDecision {
  gatewayId: string;
  region: string;
  exitCountry: string;
  honoured: boolean;
  reason: string;
}

const same = (a: string, b: string) => a.toUpperCase() === b.toUpperCase();

function leastLoaded(cs: Candidate[]): Candidate {
  return cs.reduce((best, c) => (c.load < best.load || (c.load === best.load && c.gatewayId < best.gatewayId) ? c : best));
}

/** Returns null when no gateway is online and open to new devices. */
export function place(req: PlacementRequest, candidates: Candidate[]): PlacementDecision | null {
  const online = candidates.filter((c) => c.online && !c.drained);
  if (online.length === 0) return null;
  const wantRegion = req.region ?? null;
  const wantExit = req.exitCountry ?? null;
  const decide = (c: Candidate, honoured: boolean, reason: string): PlacementDecision => ({
    gatewayId: c.gatewayId,
    region: c.region,
    exitCountry: c.country,
    honoured,
    reason,
  });
  const matching = online.filter((c) => (!wantRegion || same(c.region, wantRegion)) && (!wantExit || same(c.country, wantExit)));
  if (matching.length > 0) {
    const c = leastLoaded(matching);
    if (!wantRegion && !wantExit) return decide(c, true, `No preference given; ${c.region} (exit ${c.country}) has the most room.`);
    return decide(c, true, `As requested: ${describe(wantRegion, wantExit)}.`);
  }
  // Not honoured: say which part failed and why.
  const known = candidates.filter((c) => (!wantRegion || same(c.region, wantRegion)) && (!wantExit || same(c.country, wantExit)));
  const why = known.length === 0
    ? `DAMM has no gateway for ${describe(wantRegion, wantExit)}`
    : known.some((c) => c.online)
      ? `every gateway for ${describe(wantRegion, wantExit)} that is online is closed to new devices (drained for maintenance) right now`
      : `every gateway for ${describe(wantRegion, wantExit)} is offline right now`;
  // Prefer keeping the exit country, then the region, then anything online.
  const sameExit = wantExit ? online.filter((c) => same(c.country, wantExit)) : [];
  const sameRegion = wantRegion ? online.filter((c) => same(c.region, wantRegion)) : [];
  const pool = sameExit.length ? sameExit : sameRegion.length ? sameRegion : online;
  const c = leastLoaded(pool);
  return decide(c, false, `Not as requested: ${why}, so you were given ${c.region} (exit ${c.country}) instead.`);
}

function describe(region: string | null, exit: string | null): string {
  if (region && exit) return `region ${region} with exit ${exit.toUpperCase()}`;
  if (region) return `region ${region}`;
  return `exit ${exit?.toUpperCase()}`;
}
