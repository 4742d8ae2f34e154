/**
 * Enrollment: one transaction consumes the pass, places the device, takes
 * an address and inserts the device (plus its audit and feed rows). Any
 * failure rolls all of it back, so a failed enrollment leaves nothing behind
 * and a single-use pass yields exactly one device however many race for it.
 */
import { randomUUID } from 'node:crypto';
import type { EnrollRequest, EnrollResponse } from '../../core/api-schemas.js';
import { DammError } from '../../core/errors.js';
import { parseWireGuardPublicKey } from '../../core/wg-key.js';
import { addressesFor, parsePools } from '../../core/ipam.js';
import { place, type Candidate } from '../../core/placement.js';
import { withTx, isUniqueViolation, type Queryable } from '../../store/db.js';
import { memoPerDb } from './memo.js';
import { consumePass } from './passes.js';
import { basePools, cachedGateways, isOnline, scopeOf } from './gateways.js';
import { laneFrontDoorsOf } from './catalog.js';
import type { Ctx, DeviceRow } from '../context.js';

/**
 * Devices per gateway as placement counts them: the committed count, re-read
 * every few seconds (a fair spread needs no exact count per enrollment),
 * plus what this process placed that the count cannot show yet: enrollments
 * still in their transaction, and those committed after the count was read.
 * Without that every enrollment of a burst would see the same counts and go
 * to the same gateway (measured: 0/300/0). Another process's placements show
 * up at its next re-read; until then each process deals its own share evenly,
 * so the sum stays even (src/core/placement.ts). This process's own part is
 * kept per database handle, as two processes would keep it, so two control
 * planes in one test process do not share it.
 */
const committedCounts = memoPerDb(5000, async (ctx) => {
  const r = await ctx.db.query<{ gateway_id: string; n: string }>(
    "SELECT gateway_id, count(*) AS n FROM devices WHERE state = 'active' AND gateway_id IS NOT NULL GROUP BY gateway_id",
  );
  return new Map(r.rows.map((x) => [x.gateway_id, Number(x.n)]));
});

class PlacementLoad {
  /** The count last read, and what this process committed since that read started. */
  private counts: Promise<Map<string, number>> | null = null;
  private committedSince = new Map<string, number>();
  private readonly inFlight = new Map<string, number>();

  /** The counts to place against (synchronous once read, so a decision and placing() see the same state). */
  async read(ctx: Pick<Ctx, 'db' | 'clock'>): Promise<(gatewayId: string) => number> {
    const p = committedCounts.get(ctx);
    if (p !== this.counts) {
      // A new read started now: it sees every commit before this instant, none after.
      this.counts = p;
      this.committedSince = new Map();
    }
    const since = this.committedSince;
    const counts = await p;
    return (id) => (counts.get(id) ?? 0) + (since.get(id) ?? 0) + (this.inFlight.get(id) ?? 0);
  }

  /** A device was just placed on `id`; its transaction starts. */
  placing(id: string): void {
    bump(this.inFlight, id, 1);
  }

  /** Its transaction ended: committed (the count being used cannot show it) or rolled back. */
  settled(id: string, committed: boolean): void {
    bump(this.inFlight, id, -1);
    if (committed) bump(this.committedSince, id, 1);
  }
}

const bump = (m: Map<string, number>, id: string, by: number) => m.set(id, (m.get(id) ?? 0) + by);

const loads = new WeakMap<object, PlacementLoad>();
function placementLoad(ctx: Pick<Ctx, 'db'>): PlacementLoad {
  let l = loads.get(ctx.db);
  if (!l) loads.set(ctx.db, (l = new PlacementLoad()));
  return l;
}

/** A freed offset if there is one, else a fresh one from the sequence: one round trip. */
async function takeAddressOffset(q: Queryable, maxOffset: number): Promise<number> {
  const r = await q.query<{ n: string }>(
    `WITH reused AS (
       DELETE FROM free_offsets WHERE address_offset = (
         SELECT address_offset FROM free_offsets ORDER BY address_offset LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING address_offset)
     SELECT coalesce((SELECT address_offset FROM reused)::bigint, nextval('address_offset_seq')) AS n`,
  );
  const n = Number(r.rows[0]!.n);
  if (n > maxOffset) throw new DammError('address_pool_exhausted', 'Every tunnel address is in use; the operator needs to widen the address pool.');
  return n;
}

export async function enroll(ctx: Ctx, req: EnrollRequest): Promise<EnrollResponse> {
  parseWireGuardPublicKey(req.publicKey);
  const now = ctx.clock.now();
  const requested = { region: req.region?.toUpperCase() ?? null, exitCountry: req.exitCountry?.toUpperCase() ?? null };
  const loads = placementLoad(ctx);
  const [gateways, load] = await Promise.all([cachedGateways(ctx), loads.read(ctx)]);
  // From here to placing() nothing awaits: concurrent enrollments in this process see each other's choices.
  const candidates: Candidate[] = gateways
    .filter((g) => g.registered_at && g.wg_public_key && g.doors.length > 0)
    .map((g) => ({
      gatewayId: g.id,
      name: g.name,
      region: g.region,
      country: g.country,
      online: isOnline(ctx, g, now),
      drained: !!g.drained_at,
      load: load(g.id),
      tiers: g.doors.map((d) => d.tier),
    }));
  const placed = place(requested, candidates);
  if (placed) loads.placing(placed.gatewayId);

  let enrolled: { device: DeviceRow; decision: NonNullable<typeof placed> };
  try {
    enrolled = await withTx(ctx.db, async (tx) => {
      // The pass is checked first so a person hears about their pass before
      // about capacity; with no gateway the transaction rolls back and the
      // pass stays usable.
      const pass = await consumePass(tx, req.installPass, now);
      if (!placed) {
        const drainedOnly = candidates.some((c) => c.online);
        throw new DammError('no_gateway_available', drainedOnly
          ? 'Every DAMM gateway that is online is closed to new devices for maintenance right now, so there is nowhere to connect you. Your pass was not used; try again later.'
          : 'No DAMM gateway is online right now, so there is nowhere to connect you. Your pass was not used; try again in a few minutes.');
      }
      const decision = placed;
      const offset = await takeAddressOffset(tx, ctx.pools.maxOffset);
      const addr = addressesFor(ctx.pools, offset);
      const id = randomUUID();
      let row: DeviceRow;
      try {
        // The device and its two audit rows in one statement (one round trip).
        const r = await tx.query<DeviceRow>(
          `WITH d AS (
             INSERT INTO devices (id, public_key, address_offset, ipv4, ipv6, tier, pass_id, requested_region, requested_exit,
               region, exit_country, scope, gateway_id, placement_reason, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             RETURNING id, public_key, address_offset, host(ipv4) AS ipv4, host(ipv6) AS ipv6, tier, region, exit_country, scope,
               gateway_id, state, state_reason, created_at),
           a AS (
             INSERT INTO audit_log (at, actor, action, subject, details)
             SELECT $15, 'device:' || d.id, x.action, x.subject, x.details FROM d,
               (VALUES ('pass.consumed', $16, $17::jsonb), ('device.enrolled', 'device:' || $1, $18::jsonb)) AS x(action, subject, details))
           SELECT * FROM d`,
          [id, req.publicKey, offset, addr.ipv4, addr.ipv6, pass.tier, pass.id, requested.region, requested.exitCountry,
            decision.region, decision.exitCountry, scopeOf(decision.region), decision.gatewayId, decision.reason, now,
            `pass:${pass.id}`, JSON.stringify({ kind: pass.kind, deviceId: id }),
            JSON.stringify({ publicKey: req.publicKey, ipv4: addr.ipv4, region: decision.region, gatewayId: decision.gatewayId, honoured: decision.honoured })],
        );
        row = r.rows[0]!;
      } catch (err) {
        if (isUniqueViolation(err, 'devices_public_key_key')) {
          throw new DammError('key_already_enrolled', 'This public key is already enrolled. Generate a new key pair for a new device.', { cause: err });
        }
        throw err;
      }
      await ctx.admissions.deviceAdmitted(tx, row);
      return { device: row, decision };
    });
    loads.settled(enrolled.decision.gatewayId, true);
  } catch (err) {
    if (placed) loads.settled(placed.gatewayId, false); // it did not land there after all
    throw err;
  }
  const { device, decision } = enrolled;
  ctx.metrics.enrollments.inc();
  const gateway = gateways.find((g) => g.id === decision.gatewayId)!;
  // Every door of the gateway, exactly as the signed catalog lists them (clients take them from there by id);
  // the primary one is lane 0's listen-port door. The device has one offset, so one address per lane.
  const laneDoors = laneFrontDoorsOf(gateway, basePools(ctx));
  const door = laneDoors[0]!.door;
  const laneAddresses = new Map<number, { ipv4: string; ipv6: string }>();
  for (const { lane, door: d } of laneDoors) {
    if (!laneAddresses.has(lane)) laneAddresses.set(lane, lane === 0 ? { ipv4: device.ipv4, ipv6: device.ipv6 } : addressesFor(parsePools(d.tunnel), device.address_offset));
  }
  const quota = ctx.config.serviceTiers[device.tier]?.quotaBytes ?? null;
  return {
    deviceId: device.id,
    addresses: { ipv4: device.ipv4, ipv6: device.ipv6 },
    dns: ctx.config.dns,
    allowedIps: ['0.0.0.0/0', '::/0'],
    persistentKeepalive: ctx.config.persistentKeepalive,
    frontDoor: door,
    doors: laneDoors.map(({ lane, door: d }) => ({ id: d.id, addresses: laneAddresses.get(lane)! })),
    placement: {
      requested,
      given: { region: decision.region, exitCountry: decision.exitCountry, gatewayId: decision.gatewayId },
      honoured: decision.honoured,
      reason: decision.reason,
    },
    tier: device.tier,
    quotaBytes: quota,
  };
}
