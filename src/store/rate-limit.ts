import type { Queryable } from './db.js';

function windowOf(now: Date, windowSeconds: number): { start: Date; resetAt: Date } {
  const s = Math.floor(now.getTime() / 1000 / windowSeconds) * windowSeconds;
  return { start: new Date(s * 1000), resetAt: new Date((s + windowSeconds) * 1000) };
}

/**
 * Fixed-window counter shared by every control-plane process (one row per
 * bucket and window). Counts the hit only if it is within `limit`, so a
 * refused request changes nothing.
 */
export async function takeToken(
  q: Queryable,
  bucket: string,
  limit: number,
  windowSeconds: number,
  now: Date,
): Promise<{ allowed: boolean; count: number; resetAt: Date }> {
  const { start, resetAt } = windowOf(now, windowSeconds);
  const r = await q.query<{ count: number }>(
    `INSERT INTO rate_counters (bucket, window_start, count) VALUES ($1, $2, 1)
     ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_counters.count + 1
       WHERE rate_counters.count < $3
     RETURNING count`,
    [bucket, start, limit],
  );
  if (r.rows[0]) return { allowed: true, count: r.rows[0].count, resetAt };
  return { allowed: false, count: limit, resetAt };
}

export async function readCounter(q: Queryable, bucket: string, windowSeconds: number, now: Date): Promise<number> {
  const r = await q.query<{ count: number }>('SELECT count FROM rate_counters WHERE bucket = $1 AND window_start = $2', [
    bucket,
    windowOf(now, windowSeconds).start,
  ]);
  return r.rows[0]?.count ?? 0;
}

export async function pruneCounters(q: Queryable, before: Date): Promise<void> {
  await q.query('DELETE FROM rate_counters WHERE window_start < $1', [before]);
}
