/**
 * Sliding-window rate limits shared by every control-plane process through
 * Postgres. A bucket's row keeps the times of its hits inside the window
 * (never more than the limit, or the cap for a counted bucket), so "at most
 * N per window" holds over any window, not per clock hour. Each change is
 * one INSERT ... ON CONFLICT DO UPDATE: Postgres locks the row and evaluates
 * the limit on its latest version, so concurrent takers from any number of
 * processes never exceed it; inside a transaction the lock is held to commit.
 */
import type { Queryable } from './db.js';

export interface Slot {
  allowed: boolean;
  /** Hits inside the window after this call (including it, when allowed). */
  count: number;
  /** When refused: seconds until a slot frees up. */
  retryAfterSeconds: number;
}

/**
 * Takes a slot in `bucket` if fewer than `limit` hits fall inside the
 * `windowSeconds` before `now`. A refused call changes nothing.
 */
export async function takeToken(q: Queryable, bucket: string, limit: number, windowSeconds: number, now: Date): Promise<Slot> {
  const r = await q.query<{ count: number }>(
    `INSERT INTO rate_windows AS w (bucket, hits, last_hit) VALUES ($1, ARRAY[$2::timestamptz], $2)
     ON CONFLICT (bucket) DO UPDATE
       SET hits = ARRAY(SELECT h FROM unnest(w.hits) h WHERE h > $2::timestamptz - make_interval(secs => $3) ORDER BY h) || $2::timestamptz,
           last_hit = GREATEST(w.last_hit, $2)
       WHERE (SELECT count(*) FROM unnest(w.hits) h WHERE h > $2::timestamptz - make_interval(secs => $3)) < $4
     RETURNING cardinality(hits) AS count`,
    [bucket, now, windowSeconds, limit],
  );
  if (r.rows[0]) return { allowed: true, count: r.rows[0].count, retryAfterSeconds: 0 };
  // Refused: a slot frees when enough of the oldest hits leave the window to bring the count under the limit.
  const hits = await windowHits(q, bucket, windowSeconds, now);
  const freeing = hits[Math.max(0, hits.length - limit)];
  const ms = freeing ? freeing.getTime() + windowSeconds * 1000 - now.getTime() : 1000;
  return { allowed: false, count: hits.length, retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)) };
}

/**
 * Records a hit that is never refused (a service-wide rate that is measured,
 * not limited), keeping only the newest `cap` hits: countHits then answers
 * exactly up to `cap`, and the row stays small.
 */
export async function recordHit(q: Queryable, bucket: string, cap: number, windowSeconds: number, now: Date): Promise<void> {
  await q.query(
    `INSERT INTO rate_windows AS w (bucket, hits, last_hit) VALUES ($1, ARRAY[$2::timestamptz], $2)
     ON CONFLICT (bucket) DO UPDATE
       SET hits = ARRAY(SELECT h FROM (
                    SELECT h FROM unnest(w.hits || $2::timestamptz) h WHERE h > $2::timestamptz - make_interval(secs => $3) ORDER BY h DESC LIMIT $4
                  ) newest ORDER BY h),
           last_hit = GREATEST(w.last_hit, $2)`,
    [bucket, now, windowSeconds, cap],
  );
}

/** Hits of `bucket` inside the window before `now` (at most the cap it was recorded with). */
export async function countHits(q: Queryable, bucket: string, windowSeconds: number, now: Date): Promise<number> {
  return (await windowHits(q, bucket, windowSeconds, now)).length;
}

async function windowHits(q: Queryable, bucket: string, windowSeconds: number, now: Date): Promise<Date[]> {
  const r = await q.query<{ h: Date }>(
    `SELECT h FROM rate_windows, unnest(hits) h WHERE bucket = $1 AND h > $2::timestamptz - make_interval(secs => $3) ORDER BY h`,
    [bucket, now, windowSeconds],
  );
  return r.rows.map((x) => x.h);
}

/** Drops buckets with no hit since `before` (older than any window in use). */
export async function pruneCounters(q: Queryable, before: Date): Promise<void> {
  await q.query('DELETE FROM rate_windows WHERE last_hit < $1', [before]);
}
