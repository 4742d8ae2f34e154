/**
 * What a logical backup covers, read from the catalog rather than listed by
 * hand, so tables added by later migrations are included without anyone
 * remembering to: every ordinary, logged table of the current schema except
 * schema_migrations (restored by running the migrations), in foreign-key
 * order (parents first), with its non-generated columns and their types,
 * plus every sequence. UNLOGGED tables (rate-limit counters) hold nothing
 * worth restoring: Postgres itself empties them after a crash.
 */
import { DammError } from '../core/errors.js';
import type { Queryable } from '../store/db.js';

export interface ColumnInfo {
  name: string;
  /** format_type(): e.g. "uuid", "timestamp with time zone", "inet[]". */
  type: string;
}

export interface TableInfo {
  name: string;
  columns: ColumnInfo[];
}

export interface SequenceInfo {
  name: string;
  /** "table.column" when the sequence is owned by a column (serial / bigserial). */
  ownedBy: { table: string; column: string } | null;
}

export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export async function listTables(q: Queryable): Promise<TableInfo[]> {
  const tables = await q.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
        AND NOT c.relispartition AND c.relname <> 'schema_migrations'
      ORDER BY c.relname`,
  );
  const names = tables.rows.map((r) => r.name);
  const cols = await q.query<{ table: string; name: string; type: string }>(
    `SELECT c.relname AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      ORDER BY c.relname, a.attnum`,
  );
  const deps = await q.query<{ child: string; parent: string }>(
    `SELECT c.relname AS child, p.relname AS parent FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE k.contype = 'f' AND n.nspname = current_schema() AND c.oid <> p.oid`,
  );
  const parents = new Map<string, Set<string>>(names.map((n) => [n, new Set<string>()]));
  for (const d of deps.rows) if (parents.has(d.child) && parents.has(d.parent)) parents.get(d.child)!.add(d.parent);
  // Kahn's algorithm, alphabetical among ready tables so the order is stable.
  const order: string[] = [];
  const placed = new Set<string>();
  while (order.length < names.length) {
    const ready = names.filter((n) => !placed.has(n) && [...parents.get(n)!].every((p) => placed.has(p)));
    if (ready.length === 0) {
      throw new DammError('internal', `Foreign keys between ${names.filter((n) => !placed.has(n)).join(', ')} form a cycle; a logical backup cannot order them.`);
    }
    for (const n of ready) {
      order.push(n);
      placed.add(n);
    }
  }
  return order.map((name) => ({ name, columns: cols.rows.filter((c) => c.table === name).map((c) => ({ name: c.name, type: c.type })) }));
}

export async function listSequences(q: Queryable): Promise<SequenceInfo[]> {
  const r = await q.query<{ name: string; table: string | null; column: string | null }>(
    `SELECT s.relname AS name, t.relname AS table, a.attname AS column
       FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
       LEFT JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
       LEFT JOIN pg_class t ON t.oid = d.refobjid
       LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
      WHERE s.relkind = 'S' AND n.nspname = current_schema()
      ORDER BY s.relname`,
  );
  return r.rows.map((x) => ({ name: x.name, ownedBy: x.table && x.column ? { table: x.table, column: x.column } : null }));
}

/** Session settings that make every column's text form exact and re-readable. */
export const EXACT_TEXT_SETTINGS = [
  "SET LOCAL DateStyle = 'ISO, YMD'",
  "SET LOCAL TimeZone = 'UTC'",
  "SET LOCAL IntervalStyle = 'postgres'",
  'SET LOCAL extra_float_digits = 3',
  "SET LOCAL bytea_output = 'hex'",
];
