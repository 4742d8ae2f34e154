/** Operator views of devices, and revocation (which frees the address and tells gateways). */
import { DammError } from '../../core/errors.js';
import { withTx, type Queryable } from '../../store/db.js';
import { audit } from '../../store/audit.js';
import { periodStartOf } from '../../store/usage.js';
import type { Ctx, DeviceRow } from '../context.js';

/** The columns of a DeviceRow, optionally qualified by a table alias (for joins). */
export function deviceColumns(alias = ''): string {
  const a = alias ? `${alias}.` : '';
  return `${a}id, ${a}public_key, ${a}address_offset, host(${a}ipv4) AS ipv4, host(${a}ipv6) AS ipv6, ${a}tier, ${a}region, ${a}exit_country,
  ${a}scope, ${a}gateway_id, ${a}state, ${a}state_reason, ${a}created_at`;
}
export const DEVICE_COLUMNS = deviceColumns();

/**
 * Devices for the operator, newest first, with this period's usage, their
 * tier's quota, their gateway's name and the note of the invite they came
 * with. `q` matches an id (or its start), a tunnel address, a public key
 * prefix, or words in that note.
 */
export async function listDevices(ctx: Pick<Ctx, 'db' | 'clock' | 'config'>, opts: { limit: number; state?: string; q?: string }) {
  const q = opts.q?.trim() || null;
  const r = await ctx.db.query<DeviceRow & { gateway_name: string | null; note: string | null; usage: string | null }>(
    `SELECT ${deviceColumns('d')}, g.name AS gateway_name, p.note,
            (SELECT u.rx_bytes + u.tx_bytes FROM usage_periods u WHERE u.device_id = d.id AND u.period_start = $4) AS usage
     FROM devices d LEFT JOIN gateways g ON g.id = d.gateway_id LEFT JOIN install_passes p ON p.id = d.pass_id
     WHERE ($1::text IS NULL OR d.state = $1)
       AND ($2::text IS NULL OR d.id::text LIKE lower($2) || '%' OR host(d.ipv4) = $2 OR host(d.ipv6) = lower($2)
            OR left(d.public_key, length($2)) = $2 OR p.note ILIKE '%' || $2 || '%')
     ORDER BY d.created_at DESC, d.id LIMIT $3`,
    [opts.state ?? null, q, opts.limit, periodStartOf(ctx.clock.now())],
  );
  return r.rows.map((d) => ({
    ...deviceSummary(d),
    gatewayName: d.gateway_name,
    note: d.note,
    usageBytes: Number(d.usage ?? 0),
    quotaBytes: ctx.config.serviceTiers[d.tier]?.quotaBytes ?? null,
  }));
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

/**
 * Suspend (its peer leaves every gateway, its address is kept) or resume (a
 * fresh admission record goes to the feed) a device, audited with who did it.
 */
export async function setDeviceSuspended(ctx: Ctx, actor: string, id: string, suspend: boolean, reason: string) {
  const now = ctx.clock.now();
  return withTx(ctx.db, async (tx) => {
    const r = await tx.query<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = $1 FOR UPDATE`, [id]);
    const d = r.rows[0];
    if (!d) throw new DammError('not_found', `No device ${id}.`);
    const from = suspend ? 'active' : 'suspended';
    if (d.state !== from) throw new DammError('conflict', `Device ${id} is ${d.state}; only a${from === 'active' ? 'n active' : ' suspended'} device can be ${suspend ? 'suspended' : 'resumed'}.`);
    const u = await tx.query<DeviceRow>(
      `UPDATE devices SET state = $2, state_reason = $3, state_changed_at = $4 WHERE id = $1 RETURNING ${DEVICE_COLUMNS}`,
      [id, suspend ? 'suspended' : 'active', suspend ? reason : null, now],
    );
    const row = u.rows[0]!;
    await audit(tx, { at: now, actor, action: suspend ? 'device.suspended' : 'device.resumed', subject: `device:${id}`, details: { reason, publicKey: d.public_key } });
    if (suspend) await ctx.admissions.deviceRemoved(tx, row, reason);
    else await ctx.admissions.deviceAdmitted(tx, row);
    return deviceSummary(row);
  });
}
