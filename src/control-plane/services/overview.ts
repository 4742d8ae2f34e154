/**
 * What the console's overview and gateways pages show, read in a few
 * aggregate queries: gateways and their doors up or down, device counts,
 * enrollments per hour, bytes per day, and the warnings an operator should
 * act on (key expiry, silent gateways, an expiring catalog).
 */
import { trustStatus } from '../trust/status.js';
import type { Ctx } from '../context.js';
import { gatewaySummary, isOnline, listGateways, scopeOf, laneUp } from './gateways.js';
import { posture } from './posture.js';

const DAY_MS = 86400_000;

export async function overview(ctx: Ctx) {
  const now = ctx.clock.now();
  const [post, gateways, states, hours, days, trust] = await Promise.all([
    posture(ctx),
    listGateways(ctx.db),
    ctx.db.query<{ state: string; n: string }>('SELECT state, count(*) AS n FROM devices GROUP BY state'),
    ctx.db.query<{ hour: Date; n: string }>(
      `SELECT h AS hour, (SELECT count(*) FROM devices WHERE created_at >= h AND created_at < h + interval '1 hour') AS n
       FROM generate_series(date_trunc('hour', $1::timestamptz) - interval '23 hours', date_trunc('hour', $1::timestamptz), interval '1 hour') AS h
       ORDER BY h`,
      [now],
    ),
    ctx.db.query<{ day: string; n: string }>(
      `SELECT to_char(d, 'YYYY-MM-DD') AS day, COALESCE((SELECT sum(rx_bytes + tx_bytes) FROM usage_daily WHERE day = d::date), 0) AS n
       FROM generate_series(($1::timestamptz AT TIME ZONE 'UTC')::date - 13, ($1::timestamptz AT TIME ZONE 'UTC')::date, interval '1 day') AS d
       ORDER BY d`,
      [now],
    ),
    trustStatus(ctx.db, ctx.config.dataDir, now),
  ]);
  const registered = gateways.filter((g) => g.registered_at);
  const online = registered.filter((g) => isOnline(ctx, g, now));
  const count = (s: string) => Number(states.rows.find((r) => r.state === s)?.n ?? 0);
  const warnings = [...trust.warnings];
  for (const g of registered) {
    if (isOnline(ctx, g, now)) continue;
    const since = g.last_heartbeat_at ? `its last heartbeat was ${Math.round((now.getTime() - g.last_heartbeat_at.getTime()) / 60_000)} minute(s) ago` : 'it has never sent a heartbeat';
    warnings.push(`gateway ${g.name} (${g.region}) is offline: ${since}`);
  }
  if (post.catalog && new Date(post.catalog.expiresAt).getTime() - now.getTime() < DAY_MS) warnings.push(`the signed catalog expires at ${post.catalog.expiresAt}`);
  return {
    posture: post,
    gateways: { total: gateways.length, registered: registered.length, online: online.length },
    // One catalog door per endpoint of a lane; a door is up when its gateway is online and its lane reported itself up and listening.
    doors: {
      total: registered.reduce((n, g) => n + g.doors.reduce((k, d) => k + d.endpoints.length, 0), 0),
      up: online.reduce((n, g) => n + g.doors.reduce((k, d) => k + (laneUp(g, d.lane) ? d.endpoints.length : 0), 0), 0),
    },
    devices: { active: count('active'), suspended: count('suspended'), revoked: count('revoked') },
    enrollmentsPerHour: hours.rows.map((r) => ({ hour: new Date(r.hour).toISOString(), count: Number(r.n) })),
    bytesPerDay: days.rows.map((r) => ({ day: r.day, bytes: Number(r.n) })),
    warnings,
  };
}

/** Each gateway with its peers (active devices of its scope), bytes metered today, and how long ago it was last heard from. */
export async function gatewayDetails(ctx: Ctx) {
  const now = ctx.clock.now();
  const [gateways, peers, today] = await Promise.all([
    listGateways(ctx.db),
    ctx.db.query<{ scope: string; n: string }>("SELECT scope, count(*) AS n FROM devices WHERE state = 'active' GROUP BY scope"),
    ctx.db.query<{ gateway_id: string; n: string }>(
      "SELECT gateway_id, rx_bytes + tx_bytes AS n FROM usage_daily WHERE day = ($1::timestamptz AT TIME ZONE 'UTC')::date",
      [now],
    ),
  ]);
  return gateways.map((g) => ({
    ...gatewaySummary(ctx, g, now),
    peers: g.registered_at ? Number(peers.rows.find((r) => r.scope === scopeOf(g.region))?.n ?? 0) : 0,
    bytesToday: Number(today.rows.find((r) => r.gateway_id === g.id)?.n ?? 0),
    heartbeatAgeSeconds: g.last_heartbeat_at ? Math.max(0, Math.round((now.getTime() - g.last_heartbeat_at.getTime()) / 100) / 10) : null,
  }));
}
