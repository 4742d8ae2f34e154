/** The service's health as a person reads it. */
import type { Posture } from '../../core/api-schemas.js';
import { isOnline, laneHealth, listGateways } from './gateways.js';
import { currentCatalog } from './catalog.js';
import type { Ctx } from '../context.js';

export async function posture(ctx: Ctx): Promise<Posture> {
  const now = ctx.clock.now();
  const [gateways, catalog] = await Promise.all([listGateways(ctx.db), currentCatalog(ctx)]);
  const groups = new Map<string, Posture['regions'][number]>();
  for (const g of gateways.filter((x) => x.registered_at)) {
    for (const tier of new Set(g.doors.map((d) => d.tier))) {
      const k = `${g.region}|${g.country}|${tier}`;
      const cur = groups.get(k) ?? { region: g.region, country: g.country, tier, gatewaysOnline: 0, gatewaysTotal: 0, gatewaysDrained: 0, newestHeartbeatAgeSeconds: null };
      cur.gatewaysTotal++;
      if (isOnline(ctx, g, now)) cur.gatewaysOnline++;
      if (g.drained_at) cur.gatewaysDrained++;
      if (g.last_heartbeat_at) {
        const age = Math.max(0, Math.round((now.getTime() - g.last_heartbeat_at.getTime()) / 100) / 10);
        cur.newestHeartbeatAgeSeconds = cur.newestHeartbeatAgeSeconds === null ? age : Math.min(cur.newestHeartbeatAgeSeconds, age);
      }
      groups.set(k, cur);
    }
  }
  const doors: Posture['doors'] = gateways
    .filter((g) => g.registered_at)
    .flatMap((g) =>
      g.doors.map((d) => {
        const health = laneHealth(g, d.lane);
        return {
          gatewayId: g.id,
          region: g.region,
          lane: d.lane,
          protocol: d.protocol,
          tier: d.tier,
          ports: [...new Set(d.endpoints.map((e) => e.port))],
          online: isOnline(ctx, g, now) && !!health?.up && health.listening,
          health,
        };
      }),
    )
    .sort((a, b) => a.region.localeCompare(b.region) || a.gatewayId.localeCompare(b.gatewayId) || a.lane - b.lane);
  const regions = [...groups.values()].sort((a, b) => a.region.localeCompare(b.region) || a.tier.localeCompare(b.tier));
  const online = regions.reduce((n, r) => n + r.gatewaysOnline, 0);
  const total = regions.reduce((n, r) => n + r.gatewaysTotal, 0);
  const drained = regions.reduce((n, r) => n + r.gatewaysDrained, 0);
  // Drained doors still serve their devices, so they count as online; the sentence says they take no newcomers.
  const drainNote = drained > 0 ? ` ${drained} of them ${drained === 1 ? 'is' : 'are'} drained (no new devices).` : '';
  const status: Posture['status'] = online === 0 ? 'down' : online < total ? 'degraded' : 'ok';
  const summary =
    status === 'down'
      ? 'No gateway is online: new connections cannot be made right now.'
      : status === 'degraded'
        ? `${online} of ${total} gateway front doors are online; some regions may be offered a substitute.${drainNote}`
        : `All ${total} gateway front door(s) are online.${drainNote}`;
  return {
    status,
    summary,
    controlPlane: { version: ctx.version, store: ctx.storeKind, serverTime: now.toISOString() },
    catalog: { version: catalog.version, issuedAt: catalog.issuedAt.toISOString(), expiresAt: catalog.expiresAt.toISOString(), frontDoors: catalog.frontDoors },
    regions,
    doors,
    publicEnrollment: ctx.config.publicMinting,
  };
}
