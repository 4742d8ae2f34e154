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

export async function listAudit(q: Queryable, opts: { limit: number; afterId?: number; action?: string }): Promise<AuditRow[]> {
  if (opts.afterId !== undefined) {
    const r = await q.query<AuditRow>(
      'SELECT * FROM audit_log WHERE id > $1 AND ($2::text IS NULL OR action = $2) ORDER BY id ASC LIMIT $3',
      [opts.afterId, opts.action ?? null, opts.limit],
    );
    return r.rows;
  }
  const r = await q.query<AuditRow>(
    'SELECT * FROM (SELECT * FROM audit_log WHERE ($1::text IS NULL OR action = $1) ORDER BY id DESC LIMIT $2) t ORDER BY id ASC',
    [opts.action ?? null, opts.limit],
  );
  return r.rows;
}

export async function pruneAudit(q: Queryable, olderThan: Date): Promise<number> {
  const r = await q.query('DELETE FROM audit_log WHERE at < $1', [olderThan]);
  return r.rowCount ?? 0;
}
