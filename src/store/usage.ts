/** Byte usage per device and period (calendar month, UTC). */
import type { Queryable } from './db.js';

/** The first instant of the UTC calendar month containing `now`. */
export function periodStartOf(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

export interface UsageDelta {
  deviceId: string;
  rx: number;
  tx: number;
}

/**
 * Adds deltas to the devices' rows for the period, in device-id order (so
 * two heartbeats touching the same devices cannot deadlock). Returns each
 * device's new total (rx + tx) for the period.
 */
export async function addUsage(q: Queryable, period: Date, deltas: readonly UsageDelta[], now: Date): Promise<Map<string, number>> {
  const sorted = [...deltas].sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  if (sorted.length === 0) return new Map();
  const r = await q.query<{ device_id: string; total: string }>(
    `INSERT INTO usage_periods (device_id, period_start, rx_bytes, tx_bytes, updated_at)
     SELECT d, $1, rx, tx, $5 FROM unnest($2::uuid[], $3::bigint[], $4::bigint[]) AS u(d, rx, tx)
     ON CONFLICT (device_id, period_start) DO UPDATE
       SET rx_bytes = usage_periods.rx_bytes + EXCLUDED.rx_bytes,
           tx_bytes = usage_periods.tx_bytes + EXCLUDED.tx_bytes,
           updated_at = EXCLUDED.updated_at
     RETURNING device_id, rx_bytes + tx_bytes AS total`,
    [period, sorted.map((d) => d.deviceId), sorted.map((d) => String(d.rx)), sorted.map((d) => String(d.tx)), now],
  );
  return new Map(r.rows.map((x) => [x.device_id, Number(x.total)]));
}

/** Adds a counted heartbeat's bytes to its gateway's total for the UTC day (the console's bytes-per-day chart). */
export async function addGatewayDay(q: Queryable, gatewayId: string, now: Date, deltas: readonly { rx: number; tx: number }[]): Promise<void> {
  const rx = deltas.reduce((n, d) => n + d.rx, 0);
  const tx = deltas.reduce((n, d) => n + d.tx, 0);
  if (rx === 0 && tx === 0) return;
  await q.query(
    `INSERT INTO usage_daily (gateway_id, day, rx_bytes, tx_bytes) VALUES ($1, ($2::timestamptz AT TIME ZONE 'UTC')::date, $3, $4)
     ON CONFLICT (day, gateway_id) DO UPDATE SET rx_bytes = usage_daily.rx_bytes + EXCLUDED.rx_bytes, tx_bytes = usage_daily.tx_bytes + EXCLUDED.tx_bytes`,
    [gatewayId, now, String(rx), String(tx)],
  );
}

export async function usageOf(q: Queryable, deviceId: string, period: Date): Promise<{ rx: number; tx: number }> {
  const r = await q.query<{ rx_bytes: string; tx_bytes: string }>(
    'SELECT rx_bytes, tx_bytes FROM usage_periods WHERE device_id = $1 AND period_start = $2',
    [deviceId, period],
  );
  const row = r.rows[0];
  return row ? { rx: Number(row.rx_bytes), tx: Number(row.tx_bytes) } : { rx: 0, tx: 0 };
}

/**
 * Records that a gateway's heartbeat `seq` was counted. False when that
 * sequence number (or a later one) was already counted: a resend after a
 * lost answer must not count twice.
 */
export async function claimHeartbeatSeq(q: Queryable, gatewayId: string, seq: number): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO gateway_meter (gateway_id, last_seq) VALUES ($1, $2)
     ON CONFLICT (gateway_id) DO UPDATE SET last_seq = EXCLUDED.last_seq WHERE gateway_meter.last_seq < EXCLUDED.last_seq`,
    [gatewayId, seq],
  );
  return (r.rowCount ?? 0) > 0;
}
