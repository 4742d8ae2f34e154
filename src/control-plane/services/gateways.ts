/**
 * Gateway registry: an operator adds a gateway (getting a one-time token),
 * the gateway registers with it (its doors: one lane per WireGuard-family
 * interface, each with its protocol, tier, key, parameters and endpoints;
 * core/doors.ts) and receives its own credential; at every start it states
 * its doors again (updateDoors), so doors added later reach the catalog;
 * heartbeats keep it online and report each lane's health. A gateway that
 * stops heartbeating leaves placement and the catalog.
 * An operator drains a gateway (no new placements; it keeps its devices, its
 * doors stay in the catalog) or removes it for good (it leaves the catalog,
 * placement, posture and the list; its credential stops working; its row
 * stays so whoami can tell the devices placed there what happened).
 */
import { randomUUID } from 'node:crypto';
import { DammError } from '../../core/errors.js';
import { withTx, isUniqueViolation, type Queryable } from '../../store/db.js';
import { audit } from '../../store/audit.js';
import { hashSecret, newSecret } from '../secrets.js';
import { gatewayAddresses, lanePools, parsePools, type AddressPools } from '../../core/ipam.js';
import { checkLaneDoors } from '../../core/lane-doors.js';
import type { GatewayLaneDoor, LaneTunnel } from '../../core/api-schemas.js';
import { memoPerDb } from './memo.js';
import type { Ctx } from '../context.js';

/** A lane's health from the latest heartbeat that reported it. */
export interface DoorHealthRow {
  lane: number;
  up: boolean;
  listening: boolean;
  peers: number;
}

export interface GatewayRow {
  id: string;
  name: string;
  region: string;
  country: string;
  wg_public_key: string | null;
  doors: GatewayLaneDoor[];
  door_health: DoorHealthRow[];
  door_health_at: Date | null;
  egress_ips: string[];
  registered_at: Date | null;
  last_heartbeat_at: Date | null;
  created_at: Date;
  drained_at: Date | null;
  drained_by: string | null;
  removed_at: Date | null;
  removed_by: string | null;
}

/** A gateway's scope: the set of devices it must admit. Devices are placed per region. */
export function scopeOf(region: string): string {
  return `region:${region.toUpperCase()}`;
}

export async function addGateway(ctx: Ctx, actor: string, req: { name?: string; region: string; country: string; expiresInSeconds?: number }) {
  const now = ctx.clock.now();
  const id = randomUUID();
  const token = newSecret('dg');
  const region = req.region.toUpperCase();
  const country = req.country.toUpperCase();
  const name = req.name ?? `gw-${region.toLowerCase()}-${id.slice(0, 6)}`;
  const expiresAt = new Date(now.getTime() + (req.expiresInSeconds ?? ctx.config.gatewayTokenTtlSeconds) * 1000);
  await withTx(ctx.db, async (tx) => {
    await tx.query(
      'INSERT INTO gateways (id, name, region, country, reg_token_hash, reg_token_expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [id, name, region, country, hashSecret(token), expiresAt, now],
    );
    await audit(tx, { at: now, actor, action: 'gateway.added', subject: `gateway:${id}`, details: { name, region, country } });
  });
  return { gatewayId: id, name, registrationToken: token, expiresAt: expiresAt.toISOString() };
}

/** The control plane's pools as lane 0's prefixes. */
export function basePools(ctx: Pick<Ctx, 'config'>): AddressPools {
  return { ipv4Cidr: ctx.config.ipv4Pool, ipv6Prefix: ctx.config.ipv6Prefix };
}

/** Each lane's prefixes and the gateway's own address there (offset 1). */
export function laneTunnels(ctx: Pick<Ctx, 'config'>, lanes: readonly number[]): LaneTunnel[] {
  return lanes.map((lane) => {
    const pools = lanePools(basePools(ctx), lane);
    const gw = gatewayAddresses(parsePools(pools));
    return { lane, ...pools, gatewayIpv4: gw.ipv4, gatewayIpv6: gw.ipv6 };
  });
}

/**
 * The doors a gateway states, checked beyond their schema (core/lane-doors.ts)
 * and against this control plane's pools: a lane whose prefixes would leave
 * private address space is refused here, not when the catalog is signed.
 */
function checkDoors(ctx: Ctx, doors: readonly GatewayLaneDoor[]): { doors: GatewayLaneDoor[]; lanes: LaneTunnel[] } {
  const sorted = checkLaneDoors(doors);
  try {
    return { doors: sorted, lanes: laneTunnels(ctx, sorted.map((d) => d.lane)) };
  } catch (err) {
    if (err instanceof DammError && err.code === 'config_invalid') {
      throw new DammError('invalid_argument', `This control plane's address pools have no room for these lanes: ${err.message}`, { cause: err, details: err.details });
    }
    throw err;
  }
}

/** Doors compared as the catalog would list them (key order does not matter: both come through JSON). */
function sameDoors(a: readonly GatewayLaneDoor[], b: readonly GatewayLaneDoor[]): boolean {
  const canon = (d: readonly GatewayLaneDoor[]) =>
    JSON.stringify(d.map((x) => [x.lane, x.protocol, x.tier, x.publicKey, x.params === null ? null : Object.entries(x.params).sort(), x.endpoints.map((e) => [e.host, e.port])]));
  return canon(a) === canon(b);
}

export async function registerGateway(
  ctx: Ctx,
  req: { registrationToken: string; doors: GatewayLaneDoor[]; egressIps: string[] },
) {
  const now = ctx.clock.now();
  const { doors, lanes } = checkDoors(ctx, req.doors);
  const credential = newSecret('dgc');
  const gw = await withTx(ctx.db, async (tx) => {
    const r = await tx.query<GatewayRow & { reg_token_expires_at: Date }>(
      'SELECT * FROM gateways WHERE reg_token_hash = $1 FOR UPDATE',
      [hashSecret(req.registrationToken)],
    );
    const row = r.rows[0];
    if (!row) throw new DammError('invalid_pass', 'That gateway registration token is not valid or was already used.');
    if (row.reg_token_expires_at <= now) throw new DammError('pass_expired', 'That gateway registration token has expired; create a new one with "damm gateway add".');
    try {
      await tx.query(
        `UPDATE gateways SET reg_token_hash = NULL, reg_token_expires_at = NULL, credential_hash = $2,
           wg_public_key = $3, doors = $4, egress_ips = $5::inet[], registered_at = $6, last_heartbeat_at = $6
         WHERE id = $1`,
        [row.id, hashSecret(credential), doors[0]!.publicKey, JSON.stringify(doors), req.egressIps, now],
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw new DammError('conflict', 'Another gateway already uses that WireGuard public key.', { cause: err });
      throw err;
    }
    await audit(tx, {
      at: now,
      actor: `gateway:${row.id}`,
      action: 'gateway.registered',
      subject: `gateway:${row.id}`,
      details: { wgPublicKey: doors[0]!.publicKey, doors, egressIps: req.egressIps },
    });
    return row;
  });
  forgetCachedGateways();
  const lane0 = lanes[0]!;
  return {
    gatewayId: gw.id,
    credential,
    scope: scopeOf(gw.region),
    tunnel: { ipv4Cidr: lane0.ipv4Cidr, ipv6Prefix: lane0.ipv6Prefix, gatewayIpv4: lane0.gatewayIpv4, gatewayIpv6: lane0.gatewayIpv6 },
    lanes,
    admissionKeys: ctx.keys.publicKeys('admission'),
  };
}

/**
 * A registered gateway states its doors (the agent does at every start).
 * Unchanged doors change nothing; changed ones are stored and audited, and
 * the catalog's door digest moves, so the next catalog read signs a new
 * version listing them.
 */
export async function updateDoors(ctx: Ctx, gatewayId: string, req: { doors: GatewayLaneDoor[] }): Promise<{ changed: boolean; lanes: LaneTunnel[] }> {
  const now = ctx.clock.now();
  const { doors, lanes } = checkDoors(ctx, req.doors);
  const changed = await withTx(ctx.db, async (tx) => {
    const row = (await tx.query<GatewayRow>('SELECT * FROM gateways WHERE id = $1 FOR UPDATE', [gatewayId])).rows[0];
    if (!row?.registered_at) throw new DammError('not_found', 'That gateway is not registered.');
    if (sameDoors(row.doors, doors)) return false;
    try {
      await tx.query('UPDATE gateways SET wg_public_key = $2, doors = $3 WHERE id = $1', [gatewayId, doors[0]!.publicKey, JSON.stringify(doors)]);
    } catch (err) {
      if (isUniqueViolation(err)) throw new DammError('conflict', 'Another gateway already uses that WireGuard public key.', { cause: err });
      throw err;
    }
    await audit(tx, { at: now, actor: `gateway:${gatewayId}`, action: 'gateway.doors_changed', subject: `gateway:${gatewayId}`, details: { before: row.doors, after: doors } });
    return true;
  });
  if (changed) forgetCachedGateways();
  return { changed, lanes };
}

/** Resolves a gateway's bearer credential to its row; every gateway call goes through here. */
export async function authenticateGateway(q: Queryable, credential: string | undefined): Promise<GatewayRow> {
  if (!credential || !/^dgc_[A-Za-z0-9_-]{22,64}$/.test(credential)) {
    throw new DammError('unauthorized', 'This call needs a gateway credential (Authorization: Bearer dgc_…).');
  }
  const r = await q.query<GatewayRow>('SELECT * FROM gateways WHERE credential_hash = $1', [hashSecret(credential)]);
  if (!r.rows[0]) throw new DammError('unauthorized', 'Unknown gateway credential.');
  return r.rows[0];
}

export async function heartbeat(q: Queryable, gatewayId: string, now: Date, doorHealth?: readonly DoorHealthRow[]): Promise<void> {
  if (doorHealth) {
    await q.query('UPDATE gateways SET last_heartbeat_at = $2, door_health = $3, door_health_at = $2 WHERE id = $1', [gatewayId, now, JSON.stringify(doorHealth)]);
  } else {
    await q.query('UPDATE gateways SET last_heartbeat_at = $2 WHERE id = $1', [gatewayId, now]);
  }
  forgetCachedGateways();
}

/** A lane's last reported health, or null when its gateway never reported one. */
export function laneHealth(g: Pick<GatewayRow, 'door_health' | 'door_health_at'>, lane: number) {
  const h = g.door_health_at ? g.door_health.find((x) => x.lane === lane) : undefined;
  return h ? { up: h.up, listening: h.listening, peers: h.peers, reportedAt: g.door_health_at!.toISOString() } : null;
}

/**
 * Whether a lane's doors count as up on an online gateway: as its agent last
 * reported (interface up and bound to its port); a gateway that has not
 * reported lane health (older agents, API-only registrations) is judged by
 * its heartbeat alone.
 */
export function laneUp(g: Pick<GatewayRow, 'door_health' | 'door_health_at'>, lane: number): boolean {
  const h = laneHealth(g, lane);
  return h === null || (h.up && h.listening);
}

export function isOnline(ctx: Ctx, g: Pick<GatewayRow, 'registered_at' | 'last_heartbeat_at'>, now: Date): boolean {
  return !!g.registered_at && !!g.last_heartbeat_at && now.getTime() - g.last_heartbeat_at.getTime() <= ctx.config.gatewayOfflineAfterSeconds * 1000;
}

/**
 * The gateway list for placement, re-read at most once a second per process
 * (saves a query per enrollment). Registration and heartbeats in this process
 * drop it at once; other processes see changes within a second.
 */
const gatewaysMemo = memoPerDb(1000, (ctx) => listGateways(ctx.db));

export function cachedGateways(ctx: Pick<Ctx, 'db' | 'clock'>): Promise<GatewayRow[]> {
  return gatewaysMemo.get(ctx);
}

export function forgetCachedGateways(): void {
  gatewaysMemo.forget();
}

/** Every gateway not removed: what placement, the catalog, posture and the operator list see. */
export async function listGateways(q: Queryable): Promise<GatewayRow[]> {
  const r = await q.query<GatewayRow>('SELECT * FROM gateways WHERE removed_at IS NULL ORDER BY region, name');
  return r.rows;
}

/** One gateway by id, removed or not (whoami names a removed one). */
export async function getGateway(q: Queryable, id: string): Promise<GatewayRow | null> {
  const r = await q.query<GatewayRow>('SELECT * FROM gateways WHERE id = $1', [id]);
  return r.rows[0] ?? null;
}

async function lockLiveGateway(q: Queryable, id: string): Promise<GatewayRow> {
  const r = await q.query<GatewayRow>('SELECT * FROM gateways WHERE id = $1 FOR UPDATE', [id]);
  const g = r.rows[0];
  if (!g) throw new DammError('not_found', `No gateway ${id}.`);
  if (g.removed_at) throw new DammError('conflict', `Gateway ${g.name} (${id}) was removed on ${g.removed_at.toISOString()}.`);
  return g;
}

/**
 * Drain (or undrain) a gateway: a drained one gets no new placements; its
 * devices keep their peers and the catalog keeps its doors, so they keep
 * working. Drained twice is not an error: the first drain's time and actor stay.
 */
export async function setGatewayDrained(ctx: Ctx, actor: string, id: string, drained: boolean, reason?: string): Promise<GatewayRow> {
  const now = ctx.clock.now();
  const row = await withTx(ctx.db, async (tx) => {
    const g = await lockLiveGateway(tx, id);
    if (!!g.drained_at === drained) return g;
    const u = await tx.query<GatewayRow>(
      'UPDATE gateways SET drained_at = $2, drained_by = $3 WHERE id = $1 RETURNING *',
      [id, drained ? now : null, drained ? actor : null],
    );
    await audit(tx, { at: now, actor, action: drained ? 'gateway.drained' : 'gateway.undrained', subject: `gateway:${id}`, details: { name: g.name, region: g.region, ...(reason ? { reason } : {}) } });
    return u.rows[0]!;
  });
  forgetCachedGateways();
  return row;
}

/**
 * Remove a gateway for good, with no replacement: its doors leave the catalog
 * at the next signing, its credential and any unused registration token are
 * wiped (the agent's next call is refused), and it never takes a placement
 * again. Devices placed there stay enrolled (a replacement could serve them);
 * whoami tells their owners their config leads nowhere. Returns how many
 * active devices were placed there.
 */
export async function removeGateway(ctx: Ctx, actor: string, id: string, reason?: string): Promise<{ gateway: GatewayRow; devicesPlaced: number }> {
  const now = ctx.clock.now();
  const res = await withTx(ctx.db, async (tx) => {
    const g = await lockLiveGateway(tx, id);
    const u = await tx.query<GatewayRow>(
      `UPDATE gateways SET removed_at = $2, removed_by = $3, credential_hash = NULL, reg_token_hash = NULL, reg_token_expires_at = NULL
       WHERE id = $1 RETURNING *`,
      [id, now, actor],
    );
    const n = await tx.query<{ n: string }>("SELECT count(*) AS n FROM devices WHERE gateway_id = $1 AND state = 'active'", [id]);
    const devicesPlaced = Number(n.rows[0]!.n);
    await audit(tx, { at: now, actor, action: 'gateway.removed', subject: `gateway:${id}`, details: { name: g.name, region: g.region, devicesPlaced, ...(reason ? { reason } : {}) } });
    return { gateway: u.rows[0]!, devicesPlaced };
  });
  forgetCachedGateways();
  return res;
}

export function gatewaySummary(ctx: Ctx, g: GatewayRow, now: Date) {
  return {
    id: g.id,
    name: g.name,
    region: g.region,
    country: g.country,
    registered: !!g.registered_at,
    online: isOnline(ctx, g, now),
    drained: !!g.drained_at,
    drainedAt: g.drained_at?.toISOString() ?? null,
    wgPublicKey: g.wg_public_key,
    doors: g.doors.map((d) => ({ lane: d.lane, protocol: d.protocol, tier: d.tier, publicKey: d.publicKey, endpoints: d.endpoints, health: laneHealth(g, d.lane) })),
    egressIps: g.egress_ips,
    lastHeartbeatAt: g.last_heartbeat_at?.toISOString() ?? null,
  };
}

/** Gateways whose egress address is this IP: a request from there came through DAMM. */
export async function gatewayByEgressIp(q: Queryable, ip: string): Promise<GatewayRow | null> {
  const r = await q.query<GatewayRow>('SELECT * FROM gateways WHERE registered_at IS NOT NULL AND removed_at IS NULL AND $1::inet = ANY(egress_ips) LIMIT 1', [ip]);
  return r.rows[0] ?? null;
}
