/**
 * A value read from the database and kept for a short while per process, so
 * hot paths (placement on every enrollment) skip a query. Time comes from the
 * injected clock, so tests that move the clock see the value expire, and a
 * clock stepping backwards drops it rather than keeping it forever. A failed
 * read is never kept. Values are per database, so two control planes in one
 * test process never see each other's.
 */
import type { Ctx } from '../context.js';

export interface Memo<T> {
  get(ctx: Pick<Ctx, 'db' | 'clock'>): Promise<T>;
  /** Drops the value: the next get reads again (after a change this process made). */
  forget(): void;
}

export function memoPerDb<T>(ttlMs: number, load: (ctx: Pick<Ctx, 'db' | 'clock'>) => Promise<T>): Memo<T> {
  let entry: { at: number; db: unknown; value: Promise<T> } | null = null;
  return {
    get(ctx) {
      const t = ctx.clock.now().getTime();
      if (entry && entry.db === ctx.db && t >= entry.at && t - entry.at < ttlMs) return entry.value;
      const value = load(ctx);
      const mine = { at: t, db: ctx.db, value };
      entry = mine;
      value.catch(() => {
        if (entry === mine) entry = null;
      });
      return value;
    },
    forget() {
      entry = null;
    },
  };
}
