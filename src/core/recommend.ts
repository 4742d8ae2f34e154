/**
 * Which door to recommend to a visitor, from what the page's probes found
 * on the visitor's own network (wizard/probes.ts). Pure: doors and verdicts
 * in, an order and a reason out; the wizard turns the reason into a sentence
 * in the visitor's language.
 *
 * The rule: only a door a probe proved reachable is recommended, and among
 * those the least conspicuous (lowest tier, then the door's listen port
 * before alternates). Doors no probe can judge from a browser (raw TCP, such
 * as plain Shadowsocks) come next, then the unreachable ones, each by tier:
 * they stay one tap away, and the connection test after import moves the
 * visitor down this order when a reachable-looking door still fails (DPI
 * that lets STUN through but drops WireGuard handshakes).
 */
import type { TransportTier } from './tiers.js';

/** What carries a door's first packet, as far as a browser can probe it. */
export type DoorTransport = 'udp' | 'tcp' | 'tls';

export interface RecommendableDoor {
  id: string;
  tier: TransportTier;
  protocol: string;
  endpoint: string;
}

export type Verdict = 'reachable' | 'unreachable' | 'unknown';

export type RecommendationReason =
  /** UDP to the lowest-tier door's port crosses this network. */
  | 'udp_open'
  /** The primary UDP port is blocked here, another UDP door's port is not. */
  | 'udp_port_blocked'
  /** No UDP door answered; a TCP/TLS door did. */
  | 'udp_blocked'
  /** Nothing answered; the order is by tier and the connection test decides. */
  | 'nothing_answered';

export interface Recommendation {
  /** Door ids, best first. */
  order: string[];
  recommended: string | null;
  reason: RecommendationReason;
  verdicts: Record<string, Verdict>;
}

const UDP_PROTOCOLS = new Set(['wireguard', 'amneziawg']);
const TLS_PROTOCOLS = new Set(['shadowsocks-ws', 'vless']);

export function doorTransport(protocol: string): DoorTransport {
  if (UDP_PROTOCOLS.has(protocol)) return 'udp';
  if (TLS_PROTOCOLS.has(protocol)) return 'tls';
  return 'tcp';
}

function port(endpoint: string): number {
  return Number(/:(\d+)$/.exec(endpoint)?.[1] ?? 0);
}

const RANK: Record<Verdict, number> = { reachable: 0, unknown: 1, unreachable: 2 };

export function recommend(doors: readonly RecommendableDoor[], verdicts: Readonly<Record<string, Verdict>>): Recommendation {
  const verdictOf = (d: RecommendableDoor): Verdict => verdicts[d.id] ?? 'unknown';
  const byTier = [...doors].sort((a, b) => (a.tier < b.tier ? -1 : a.tier > b.tier ? 1 : 0));
  const order = [...doors].sort(
    (a, b) => RANK[verdictOf(a)] - RANK[verdictOf(b)] || (a.tier < b.tier ? -1 : a.tier > b.tier ? 1 : 0) || byTier.indexOf(a) - byTier.indexOf(b),
  );
  const best = order.find((d) => verdictOf(d) === 'reachable') ?? null;
  const udp = doors.filter((d) => doorTransport(d.protocol) === 'udp');
  let reason: RecommendationReason;
  if (!best) reason = 'nothing_answered';
  else if (doorTransport(best.protocol) !== 'udp') reason = 'udp_blocked';
  else if (udp.some((d) => d.tier <= best.tier && port(d.endpoint) !== port(best.endpoint) && verdictOf(d) === 'unreachable')) reason = 'udp_port_blocked';
  else reason = 'udp_open';
  const all: Record<string, Verdict> = {};
  for (const d of doors) all[d.id] = verdictOf(d);
  return { order: order.map((d) => d.id), recommended: best?.id ?? null, reason, verdicts: all };
}
