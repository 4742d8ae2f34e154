/** Sliding-window limits in Postgres: any rolling window, refused calls change nothing, atomic across pools. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase } from '../helpers/db.js';
import { createPool, withTx } from '../../src/store/db.js';
import { countHits, pruneCounters, recordHit, takeToken } from '../../src/store/rate-limit.js';

const HOUR = 3600;
const at = (iso: string) => new Date(`2026-03-01T${iso}Z`);

async function rowOf(db: { query: (s: string, p: unknown[]) => Promise<{ rows: unknown[] }> }, bucket: string) {
  return (await db.query('SELECT bucket, hits, last_hit FROM rate_windows WHERE bucket = $1', [bucket])).rows[0];
}

test('no burst of twice the limit across the top of the hour: the limit holds over any rolling hour', async () => {
  const database = await createTestDatabase();
  try {
    for (const t of ['00:59:00', '00:59:30', '00:59:59']) assert.equal((await takeToken(database.db, 'b', 3, HOUR, at(t))).allowed, true);
    // A fixed hourly window would start afresh at 01:00:00 and allow three more.
    const across = await takeToken(database.db, 'b', 3, HOUR, at('01:00:01'));
    assert.equal(across.allowed, false);
    assert.equal(across.retryAfterSeconds, 3539, 'the oldest hit (00:59:00) leaves the window at 01:59:00');
    assert.equal((await takeToken(database.db, 'b', 3, HOUR, at('01:58:59'))).allowed, false);
    const freed = await takeToken(database.db, 'b', 3, HOUR, at('01:59:00'));
    assert.equal(freed.allowed, true);
    assert.equal(freed.count, 3, 'the expired hit left the row');
    assert.equal((await takeToken(database.db, 'b', 3, HOUR, at('01:59:10'))).allowed, false);
  } finally {
    await database.close();
  }
});

test('a refused take changes nothing, and a tighter limit tells when enough hits leave the window', async () => {
  const database = await createTestDatabase();
  try {
    for (const t of ['10:00:00', '10:10:00', '10:20:00']) await takeToken(database.db, 'b', 3, HOUR, at(t));
    const before = await rowOf(database.db, 'b');
    const refused = await takeToken(database.db, 'b', 3, HOUR, at('10:30:00'));
    assert.deepEqual([refused.allowed, refused.count, refused.retryAfterSeconds], [false, 3, 1800]);
    assert.deepEqual(await rowOf(database.db, 'b'), before);
    // With the limit at 2, two of the three must leave (the 10:10 hit, at 11:10); at 1, all three (11:20).
    assert.deepEqual(await takeToken(database.db, 'b', 2, HOUR, at('10:30:00')), { allowed: false, count: 3, retryAfterSeconds: 2400 });
    assert.deepEqual(await takeToken(database.db, 'b', 1, HOUR, at('10:30:00')), { allowed: false, count: 3, retryAfterSeconds: 3000 });
    assert.deepEqual(await rowOf(database.db, 'b'), before);
  } finally {
    await database.close();
  }
});

test('concurrent takes from two processes\' pools never exceed the limit', async () => {
  const database = await createTestDatabase();
  const other = createPool(database.url, 16);
  try {
    const now = at('12:00:00');
    // Half in autocommit, half inside transactions (as minting does), spread over both pools.
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => {
        const db = i % 2 ? other : database.db;
        return i % 4 < 2 ? takeToken(db, 'hot', 5, HOUR, now) : withTx(db, (tx) => takeToken(tx, 'hot', 5, HOUR, now));
      }),
    );
    assert.equal(results.filter((r) => r.allowed).length, 5);
    assert.equal(await countHits(database.db, 'hot', HOUR, now), 5);
  } finally {
    await other.end();
    await database.close();
  }
});

test('a recorded rate keeps only the newest hits up to its cap, inside the window; pruning drops quiet buckets', async () => {
  const database = await createTestDatabase();
  try {
    for (let m = 0; m < 10; m++) await recordHit(database.db, 'g', 4, HOUR, at(`08:${String(m * 5).padStart(2, '0')}:00`));
    assert.equal(await countHits(database.db, 'g', HOUR, at('08:45:00')), 4);
    const row = (await rowOf(database.db, 'g')) as { hits: Date[] };
    assert.deepEqual(row.hits.map((h) => h.toISOString()), ['08:30:00', '08:35:00', '08:40:00', '08:45:00'].map((t) => at(t).toISOString()));
    assert.equal(await countHits(database.db, 'g', HOUR, at('09:37:00')), 2, '08:30 and 08:35 have left the window');
    await takeToken(database.db, 'recent', 3, HOUR, at('09:00:00'));
    await pruneCounters(database.db, at('08:50:00'));
    assert.equal(await rowOf(database.db, 'g'), undefined);
    assert.ok(await rowOf(database.db, 'recent'));
  } finally {
    await database.close();
  }
});
