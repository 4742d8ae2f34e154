import type { Queryable } from './db.js';

/**
 * Records a state change. `details` must never hold a secret (passes, tokens,
 * keys): callers pass ids and public facts only; a test scans for leaks.
 */
export async function audit(q: Queryable, entry: { at: Date; actor: string; action: string; subject?: string | null; details?: Record<string, unknown> }): Promise<void> {
  await q.query('INSERT INTO audit_log (at, actor, action, subject, details) VALUES ($1, $2, $3, $4, $5)', [
    entry.at,
    entry.actor,
    entry.action,
    entry.subject ?? null,
    JSON.stringify(entry.details ?? {}),
  ]);
}

export interface AuditRow {
  id: string;
  at: Date;
  actor: string;
  action: string;
  subject: string | null;
  details: Record<string, unknown>;
}

export interface AuditFilter {
  limit: number;
  /** Entries after this id, oldest first (following the log); without it, the newest `limit`, oldest first. */
  afterId?: number;
  /** An exact action, or a prefix ending in "." ("device." matches device.revoked, device.suspended, ...). */
  action?: string;
  actor?: string;
  subject?: string;
  since?: Date;
  until?: Date;
}

export async function listAudit(q: Queryable, f: AuditFilter): Promise<AuditRow[]> {
  const prefix = f.action?.endsWith('.') ? f.action : null;
  const where = `($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR left(action, length($2)) = $2)
    AND ($3::text IS NULL OR actor = $3) AND ($4::text IS NULL OR subject = $4)
    AND ($5::timestamptz IS NULL OR at >= $5) AND ($6::timestamptz IS NULL OR at < $6)`;
  const params = [prefix ? null : (f.action ?? null), prefix, f.actor ?? null, f.subject ?? null, f.since ?? null, f.until ?? null];
  if (f.afterId !== undefined) {
    const r = await q.query<AuditRow>(`SELECT * FROM audit_log WHERE id > $7 AND ${where} ORDER BY id ASC LIMIT $8`, [...params, f.afterId, f.limit]);
    return r.rows;
  }
  const r = await q.query<AuditRow>(`SELECT * FROM (SELECT * FROM audit_log WHERE ${where} ORDER BY id DESC LIMIT $7) t ORDER BY id ASC`, [...params, f.limit]);
  return r.rows;
}

export async function pruneAudit(q: Queryable, olderThan: Date): Promise<number> {
  const r = await q.query('DELETE FROM audit_log WHERE at < $1', [olderThan]);
  return r.rowCount ?? 0;
}
