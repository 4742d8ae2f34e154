/**
 * Metering and quotas. A gateway's heartbeat carries per-peer byte deltas;
 * they are added to each device's usage for the current period, and a device
 * whose total passes its tier's quota is suspended in the same transaction:
 * its state and reason are recorded and a removal event goes to the feed, so
 * its peer leaves every gateway of the scope.
 */
import { withTx } from '../../store/db.js';
import { audit } from '../../store/audit.js';
import { addGatewayDay, addUsage, claimHeartbeatSeq, periodStartOf, usageOf } from '../../store/usage.js';
import { heartbeat, scopeOf, type GatewayRow } from './gateways.js';
import { DEVICE_COLUMNS, getDevice } from './devices.js';
import type { Ctx, DeviceRow } from '../context.js';
import type { UsageReader } from './whoami.js';

export interface HeartbeatBody {
  /** Increasing per gateway; a heartbeat whose seq was already counted only refreshes liveness. */
  seq?: number;
  peers: { publicKey: string; rxDelta: number; txDelta: number }[];
  doors?: { lane: number; up: boolean; listening: boolean; peers: number }[];
}

export interface HeartbeatResult {
  counted: boolean;
  devices: number;
  suspended: string[];
}

export function quotaOf(ctx: Ctx, tier: string): number | null {
  return ctx.config.serviceTiers[tier]?.quotaBytes ?? null;
}

export async function recordHeartbeat(ctx: Ctx, gw: GatewayRow, body: HeartbeatBody): Promise<HeartbeatResult> {
  const now = ctx.clock.now();
  return withTx(ctx.db, async (tx) => {
    await heartbeat(tx, gw.id, now, body.doors);
    if (body.seq !== undefined && !(await claimHeartbeatSeq(tx, gw.id, body.seq))) return { counted: false, devices: 0, suspended: [] };
    const byKey = new Map<string, { rx: number; tx: number }>();
    for (const p of body.peers) {
      if (p.rxDelta === 0 && p.txDelta === 0) continue;
      const cur = byKey.get(p.publicKey) ?? { rx: 0, tx: 0 };
      byKey.set(p.publicKey, { rx: cur.rx + p.rxDelta, tx: cur.tx + p.txDelta });
    }
    if (byKey.size === 0) return { counted: true, devices: 0, suspended: [] };
    // Only devices of this gateway's scope: a gateway cannot bill another region's devices.
    const devices = await tx.query<{ id: string; public_key: string; tier: string; state: string }>(
      'SELECT id, public_key, tier, state FROM devices WHERE public_key = ANY($1::text[]) AND scope = $2',
      [[...byKey.keys()], scopeOf(gw.region)],
    );
    const period = periodStartOf(now);
    await addGatewayDay(tx, gw.id, now, [...byKey.values()]);
    const totals = await addUsage(
      tx,
      period,
      devices.rows.map((d) => ({ deviceId: d.id, ...byKey.get(d.public_key)! })),
      now,
    );
    const over = devices.rows.filter((d) => {
      const quota = quotaOf(ctx, d.tier);
      return d.state === 'active' && quota !== null && (totals.get(d.id) ?? 0) > quota;
    });
    const suspended: string[] = [];
    for (const d of over.sort((a, b) => (a.id < b.id ? -1 : 1))) {
      const quota = quotaOf(ctx, d.tier)!;
      const reason = `quota exceeded: ${totals.get(d.id)} of ${quota} bytes in the period starting ${period.toISOString().slice(0, 10)}`;
      const u = await tx.query<DeviceRow>(
        `UPDATE devices SET state = 'suspended', state_reason = $2, state_changed_at = $3 WHERE id = $1 AND state = 'active' RETURNING ${DEVICE_COLUMNS}`,
        [d.id, reason, now],
      );
      const row = u.rows[0];
      if (!row) continue;
      await audit(tx, { at: now, actor: `gateway:${gw.id}`, action: 'device.suspended', subject: `device:${d.id}`, details: { reason, quotaBytes: quota } });
      await ctx.admissions.deviceRemoved(tx, row, reason);
      suspended.push(d.id);
    }
    return { counted: true, devices: devices.rows.length, suspended };
  });
}

/** whoami's view of a device's usage this period and its quota. */
export const readUsage: UsageReader = async (ctx, deviceId) => {
  const d = await getDevice(ctx.db, deviceId);
  if (!d) return null;
  const period = periodStartOf(ctx.clock.now());
  const u = await usageOf(ctx.db, deviceId, period);
  return { periodStart: period.toISOString(), bytes: u.rx + u.tx, quotaBytes: quotaOf(ctx, d.tier) };
};
