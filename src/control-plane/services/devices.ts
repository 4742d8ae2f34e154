/** Operator views of devices, and revocation (which frees the address and tells gateways). */
import { DammError } from '../../core/errors.js';
import { withTx, type Queryable } from '../../store/db.js';
import { audit } from '../../store/audit.js';
import type { Ctx, DeviceRow } from '../context.js';

export const DEVICE_COLUMNS = `id, public_key, address_offset, host(ipv4) AS ipv4, host(ipv6) AS ipv6, tier, region, exit_country,
  scope, gateway_id, state, state_reason, created_at`;

export async function listDevices(q: Queryable, opts: { limit: number; state?: string }) {
  const r = await q.query<DeviceRow>(
    `SELECT ${DEVICE_COLUMNS} FROM devices WHERE ($1::text IS NULL OR state = $1) ORDER BY created_at DESC, id LIMIT $2`,
    [opts.state ?? null, opts.limit],
  );
  return r.rows.map(deviceSummary);
}

export function deviceSummary(d: DeviceRow) {
  return {
    id: d.id,
    publicKey: d.public_key,
    ipv4: d.ipv4,
    ipv6: d.ipv6,
    tier: d.tier,
    region: d.region,
    exitCountry: d.exit_country,
    gatewayId: d.gateway_id,
    state: d.state,
    stateReason: d.state_reason,
    createdAt: d.created_at.toISOString(),
  };
}

export async function getDevice(q: Queryable, id: string): Promise<DeviceRow | null> {
  const r = await q.query<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = $1`, [id]);
  return r.rows[0] ?? null;
}

export async function revokeDevice(ctx: Ctx, actor: string, id: string, reason: string) {
  const now = ctx.clock.now();
  return withTx(ctx.db, async (tx) => {
    const r = await tx.query<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = $1 FOR UPDATE`, [id]);
    const d = r.rows[0];
    if (!d) throw new DammError('not_found', `No device ${id}.`);
    if (d.state === 'revoked') throw new DammError('conflict', `Device ${id} is already revoked.`);
    const u = await tx.query<DeviceRow>(
      `UPDATE devices SET state = 'revoked', state_reason = $2, state_changed_at = $3 WHERE id = $1 RETURNING ${DEVICE_COLUMNS}`,
      [id, reason, now],
    );
    await tx.query('INSERT INTO free_offsets (address_offset) VALUES ($1) ON CONFLICT DO NOTHING', [d.address_offset]);
    await audit(tx, { at: now, actor, action: 'device.revoked', subject: `device:${id}`, details: { reason, publicKey: d.public_key } });
    const revoked = u.rows[0]!;
    if (d.state === 'active') await ctx.admissions.deviceRemoved(tx, revoked, reason);
    return deviceSummary(revoked);
  });
}
