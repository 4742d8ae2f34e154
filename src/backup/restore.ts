/**
 * `damm restore`: brings a control plane back from one `damm backup` archive
 * into a fresh data directory and an empty database.
 *
 * Two passes over the archive, both streaming (decrypting and hashing as
 * they go): pass 1 checks everything (the identity opens it, every part
 * matches the manifest, the format and schema are ones this DAMM knows)
 * before anything is changed; pass 2 replays the rows inside ONE transaction
 * and checks the hashes again before COMMIT, so a restore either lands
 * completely or not at all. Then later migrations run, sequences are set
 * past every restored value, and the online key files (and operator token)
 * are written with mode 0600. Nothing decrypted is written to disk except
 * those key files, into their real place.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurably } from '../io/durable-file.js';
import { Readable } from 'node:stream';
import { Decrypter } from 'age-encryption';
import { DammError } from '../core/errors.js';
import { withTx, type Db, type Queryable, type Tx } from '../store/db.js';
import { listMigrations, migrate } from '../store/migrate.js';
import { keysDir } from '../io/data-dir.js';
import { FORMAT, FrameReader } from './archive.js';
import { OPERATOR_TOKEN_FILE, kib, type Manifest } from './backup.js';
import { EXACT_TEXT_SETTINGS, ident, listSequences, listTables, type ColumnInfo } from './schema.js';

const MIGRATION_LOCK = 0x44414d4d; // same lock as src/store/migrate.ts
const INSERT_BATCH = 1000;
const FILE_NAME = /^(?:keys\/[A-Za-z0-9_.-]+\.key|operator-token)$/;

export interface RestoreOptions {
  /** The target database; not needed with verifyOnly. */
  db?: Db;
  dataDir: string;
  /** age identities (AGE-SECRET-KEY-1...). */
  identities: string[];
  input: string;
  /** Replace the contents of a non-empty database / existing key files. */
  force?: boolean;
  /** Check the archive completely and report, change nothing. */
  verifyOnly?: boolean;
  progress?: (line: string) => void;
}

export interface RestoreResult {
  manifest: Manifest;
  restored: boolean;
  files: string[];
}

function damaged(message: string, cause?: unknown): DammError {
  return new DammError('invalid_argument', `The backup archive is damaged or was altered: ${message}`, cause === undefined ? undefined : { cause });
}

async function openArchive(input: string, identities: string[]): Promise<FrameReader> {
  const st = await stat(input).catch((cause) => {
    throw new DammError('invalid_argument', `Backup archive ${input} does not exist or cannot be read.`, { cause });
  });
  if (!st.isFile()) throw new DammError('invalid_argument', `${input} is not a file.`);
  const d = new Decrypter();
  for (const id of identities) {
    try {
      d.addIdentity(id);
    } catch (cause) {
      throw new DammError('invalid_argument', 'The identity file holds something that is not an age identity.', { cause });
    }
  }
  const source = Readable.toWeb(createReadStream(input)) as unknown as ReadableStream<Uint8Array>;
  let plain: ReadableStream<Uint8Array>;
  try {
    plain = await d.decrypt(source);
  } catch (cause) {
    const msg = (cause as Error)?.message ?? '';
    if (/no identity matched/i.test(msg)) {
      throw new DammError('forbidden', 'None of the given identities can open this backup: it was encrypted to other recipients (wrong --identity?).', { cause });
    }
    if (/HMAC/i.test(msg)) throw damaged('its header does not authenticate.', cause);
    throw new DammError('invalid_argument', `${input} is not an age-encrypted DAMM backup (${msg.slice(0, 80) || 'unreadable header'}).`, { cause });
  }
  const reader = new FrameReader(plain);
  try {
    await reader.magic();
  } catch (err) {
    throw wrapStreamError(err);
  }
  return reader;
}

/** Errors from the decrypting stream (a chunk that does not authenticate, a truncated file) become one clear message. */
function wrapStreamError(err: unknown): unknown {
  if (err instanceof DammError) return err;
  const msg = (err as Error)?.message ?? String(err);
  if (/invalid tag|final chunk|too small|size is invalid|stream|ciphertext/i.test(msg)) return damaged(`decryption failed (${msg.slice(0, 80)}).`, err);
  return err;
}

interface ScanResult {
  manifest: Manifest;
  files: Map<string, Uint8Array>;
  tables: Map<string, { rows: number; bytes: number; sha256: string; columns: ColumnInfo[] }>;
}

type RowsSink = (table: string, columns: ColumnInfo[], rows: (string | null)[][]) => Promise<void>;

/** Reads the whole archive, hashing every part; hands row batches to `sink` when given. */
async function scan(reader: FrameReader, sink?: RowsSink): Promise<ScanResult> {
  const files = new Map<string, Uint8Array>();
  const tables = new Map<string, { rows: number; bytes: number; sha256: string; columns: ColumnInfo[] }>();
  let manifest: Manifest | null = null;
  let sawEnd = false;
  let current: { name: string; columns: ColumnInfo[]; h: ReturnType<typeof createHash>; rows: number; bytes: number } | null = null;
  const dec = new TextDecoder('utf-8', { fatal: true });
  try {
    let first = true;
    for (;;) {
      const f = await reader.next();
      if (f === null) break;
      const { header, body } = f;
      if (sawEnd) throw damaged('data after the end frame.');
      if (first) {
        if (header.type !== 'begin' || header.format !== FORMAT) throw damaged(`format ${String(header.format)} is not ${FORMAT}.`);
        first = false;
        continue;
      }
      switch (header.type) {
        case 'table': {
          if (current) throw damaged('a table starts inside another.');
          const name = String(header.name);
          const columns = header.columns as ColumnInfo[];
          if (!Array.isArray(columns) || tables.has(name)) throw damaged(`table ${name} header is malformed or repeated.`);
          current = { name, columns, h: createHash('sha256'), rows: 0, bytes: 0 };
          break;
        }
        case 'rows': {
          if (!current) throw damaged('rows outside a table.');
          current.h.update(body);
          current.bytes += body.length;
          const lines = dec.decode(body).split('\n');
          if (lines.pop() !== '') throw damaged(`rows of ${current.name} do not end with a newline.`);
          const rows: (string | null)[][] = [];
          for (const line of lines) {
            let row: unknown;
            try {
              row = JSON.parse(line);
            } catch {
              throw damaged(`a row of ${current.name} is not JSON.`);
            }
            if (!Array.isArray(row) || row.length !== current.columns.length || !row.every((v) => v === null || typeof v === 'string')) {
              throw damaged(`a row of ${current.name} does not match its columns.`);
            }
            rows.push(row as (string | null)[]);
          }
          current.rows += rows.length;
          if (sink) await sink(current.name, current.columns, rows);
          break;
        }
        case 'table-end': {
          if (!current || header.name !== current.name || header.rows !== current.rows) throw damaged('a table ends with the wrong name or row count.');
          tables.set(current.name, { rows: current.rows, bytes: current.bytes, sha256: current.h.digest('hex'), columns: current.columns });
          current = null;
          break;
        }
        case 'file': {
          const name = String(header.name);
          if (!FILE_NAME.test(name) || files.has(name)) throw damaged(`unexpected file entry ${name.slice(0, 60)}.`);
          files.set(name, body);
          break;
        }
        case 'manifest': {
          try {
            manifest = JSON.parse(dec.decode(body)) as Manifest;
          } catch {
            throw damaged('the manifest is not JSON.');
          }
          break;
        }
        case 'end':
          sawEnd = true;
          break;
        default:
          throw damaged(`unknown frame type ${String(header.type).slice(0, 20)}.`);
      }
    }
  } catch (err) {
    await reader.close();
    throw wrapStreamError(err);
  }
  if (!sawEnd || !manifest) throw damaged('it is truncated (no manifest or end frame).');
  // Every part must be exactly what the manifest says, and the manifest must name every part.
  if (manifest.format !== FORMAT) throw damaged(`manifest format ${String(manifest.format)}.`);
  if (manifest.tables.length !== tables.size) throw damaged('the manifest and the archive list different tables.');
  for (const t of manifest.tables) {
    const got = tables.get(t.name);
    if (!got || got.rows !== t.rows || got.bytes !== t.bytes || got.sha256 !== t.sha256) throw damaged(`table ${t.name} does not match the manifest.`);
  }
  if (manifest.files.length !== files.size) throw damaged('the manifest and the archive list different files.');
  for (const f of manifest.files) {
    const body = files.get(f.name);
    if (!body || body.length !== f.bytes || createHash('sha256').update(body).digest('hex') !== f.sha256) throw damaged(`file ${f.name} does not match the manifest.`);
  }
  return { manifest, files, tables };
}

/** True when some table holds a row that no migration inserted (rows a migration seeded share its transaction id). */
export async function databaseHasData(q: Queryable): Promise<{ nonEmpty: boolean; tables: string[] }> {
  const all = await q.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> 'schema_migrations' ORDER BY 1`,
  );
  const hasMigrations = (await q.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t")).rows[0]!.t !== null;
  const busy: string[] = [];
  for (const { name } of all.rows) {
    const sql = hasMigrations
      ? `SELECT EXISTS (SELECT 1 FROM ${ident(name)} WHERE xmin::text NOT IN (SELECT xmin::text FROM schema_migrations)) AS x`
      : `SELECT EXISTS (SELECT 1 FROM ${ident(name)}) AS x`;
    if ((await q.query<{ x: boolean }>(sql)).rows[0]!.x) busy.push(name);
  }
  return { nonEmpty: busy.length > 0, tables: busy };
}

async function appliedMigrations(q: Queryable): Promise<number[]> {
  const t = (await q.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t")).rows[0]!.t;
  if (t === null) return [];
  return (await q.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version);
}

/** Applies exactly the given migration versions that are not applied yet (the backup's schema), in order. */
async function migrateTo(db: Db, versions: number[]): Promise<void> {
  const wanted = new Set(versions);
  const all = await listMigrations();
  await withTx(db, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await tx.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const m of all) {
      if (!wanted.has(m.version) || done.has(m.version)) continue;
      await tx.query(await readFile(m.file, 'utf8'));
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
  });
}

async function insertRows(tx: Tx, table: string, columns: ColumnInfo[], targetTypes: Map<string, string>, rows: (string | null)[][]): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_BATCH) {
    const batch = rows.slice(i, i + INSERT_BATCH);
    const cols = columns.map((c) => ident(c.name));
    const casts = columns.map((c) => `u.${ident(c.name)}::${targetTypes.get(c.name)}`);
    const params = columns.map((_, j) => batch.map((r) => r[j] ?? null));
    const unnest = columns.map((_, j) => `$${j + 1}::text[]`).join(', ');
    await tx.query(
      `INSERT INTO ${ident(table)} (${cols.join(', ')}) OVERRIDING SYSTEM VALUE SELECT ${casts.join(', ')} FROM unnest(${unnest}) AS u(${cols.join(', ')})`,
      params,
    );
  }
}

async function writeSecretFile(file: string, body: Uint8Array, force: boolean): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const existing = await readFile(file).catch(() => null);
  if (existing) {
    if (Buffer.compare(existing, Buffer.from(body)) === 0) return;
    if (!force) throw new DammError('conflict', `${file} already exists with other contents; restore into a fresh --data-dir (or pass --force).`);
  }
  await writeFileDurably(file, body);
}

export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const say = opts.progress ?? (() => {});
  if (opts.identities.length === 0) throw new DammError('invalid_argument', 'Pass the identity that can open the backup (--identity FILE).');

  // Pass 1: verify everything, change nothing.
  say(`restore: stage verify: decrypting and checking ${opts.input}`);
  const checked = await scan(await openArchive(opts.input, opts.identities));
  const m = checked.manifest;
  say(`restore: archive from ${m.createdAt} (DAMM ${m.dammVersion}, schema ${m.schema.join(',')}): ${m.tables.length} tables, ${m.totals.rows} rows, ${m.files.length} files, roots ${m.roots.map((r) => `v${r.version}`).join(',') || 'none'}`);
  const known = new Set((await listMigrations()).map((x) => x.version));
  const unknown = m.schema.filter((v) => !known.has(v));
  if (unknown.length) throw new DammError('conflict', `The backup was taken by a newer DAMM (migrations ${unknown.join(', ')} are unknown here); restore it with that version.`);
  if (opts.verifyOnly) return { manifest: m, restored: false, files: [] };
  if (!opts.db) throw new DammError('invalid_argument', 'No target database given.');
  const db = opts.db;

  // The target must be empty (or --force), and not ahead of the backup's schema.
  const target = await databaseHasData(db);
  if (target.nonEmpty && !opts.force) {
    throw new DammError('conflict', `The target database is not empty (rows in ${target.tables.slice(0, 6).join(', ')}${target.tables.length > 6 ? ', …' : ''}); restore into an empty database, or pass --force to replace its contents.`);
  }
  const applied = await appliedMigrations(db);
  const ahead = applied.filter((v) => !m.schema.includes(v));
  if (ahead.length) throw new DammError('conflict', `The target database already has migrations ${ahead.join(', ')} that the backup predates; restore into a fresh, empty database.`);
  for (const name of checked.files.keys()) {
    const dest = name === OPERATOR_TOKEN_FILE ? path.join(opts.dataDir, OPERATOR_TOKEN_FILE) : path.join(keysDir(opts.dataDir), path.basename(name));
    const existing = await readFile(dest).catch(() => null);
    if (existing && Buffer.compare(existing, Buffer.from(checked.files.get(name)!)) !== 0 && !opts.force) {
      throw new DammError('conflict', `${dest} already exists with other contents; restore into a fresh --data-dir (or pass --force).`);
    }
  }

  say(`restore: stage schema: migrating to ${m.schema.join(',')}`);
  await migrateTo(db, m.schema);

  // Pass 2: replay inside one transaction; COMMIT only if every part matches the manifest again.
  say('restore: stage rows: replaying in one transaction');
  await withTx(db, async (tx) => {
    for (const s of EXACT_TEXT_SETTINGS) await tx.query(s);
    const targetTables = await listTables(tx);
    const byName = new Map(targetTables.map((t) => [t.name, new Map(t.columns.map((c) => [c.name, c.type]))]));
    for (const t of m.tables) {
      const cols = byName.get(t.name);
      if (!cols) throw new DammError('conflict', `Table ${t.name} from the backup does not exist in the migrated schema.`);
      for (const c of t.columns) if (!cols.has(c.name)) throw new DammError('conflict', `Column ${t.name}.${c.name} from the backup does not exist in the migrated schema.`);
    }
    // Rows that migrations seeded (and anything there with --force) make way for the backup's.
    const all = (await tx.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> 'schema_migrations'`,
    )).rows.map((r) => ident(r.name));
    if (all.length) await tx.query(`TRUNCATE ${all.join(', ')} CASCADE`);
    let done = 0;
    let lastTable = '';
    const replay = await scan(await openArchive(opts.input, opts.identities), async (table, columns, rows) => {
      if (table !== lastTable) {
        if (lastTable) say(`restore: table ${lastTable}: ${done} rows`);
        lastTable = table;
        done = 0;
      }
      await insertRows(tx, table, columns, byName.get(table)!, rows);
      done += rows.length;
    });
    if (lastTable) say(`restore: table ${lastTable}: ${done} rows`);
    for (const t of m.tables) {
      const again = replay.tables.get(t.name);
      if (!again || again.sha256 !== t.sha256 || again.rows !== t.rows) throw damaged(`table ${t.name} changed between the two passes.`);
    }
    // Sequences: past both the backed-up position and every restored value.
    const seqs = new Map(m.sequences.map((s) => [s.name, s]));
    for (const s of await listSequences(tx)) {
      const b = seqs.get(s.name);
      let value = b ? BigInt(b.lastValue) : null;
      let called = b?.isCalled ?? false;
      if (s.ownedBy) {
        const mx = (await tx.query<{ mx: string | null }>(`SELECT max(${ident(s.ownedBy.column)})::text AS mx FROM ${ident(s.ownedBy.table)}`)).rows[0]!.mx;
        if (mx !== null && (value === null || BigInt(mx) > value || (BigInt(mx) === value && !called))) {
          value = BigInt(mx);
          called = true;
        }
      }
      if (value !== null) await tx.query('SELECT setval($1::regclass, $2::bigint, $3)', [ident(s.name), value.toString(), called]);
    }
    const counts = m.tables.map((t) => `${t.name}=${t.rows}`).join(' ');
    say(`restore: rows committed (${counts})`);
  });

  say('restore: stage migrate: applying newer migrations, if any');
  await migrate(db);

  const written: string[] = [];
  for (const [name, body] of checked.files) {
    const dest = name === OPERATOR_TOKEN_FILE ? path.join(opts.dataDir, OPERATOR_TOKEN_FILE) : path.join(keysDir(opts.dataDir), path.basename(name));
    await writeSecretFile(dest, body, Boolean(opts.force));
    written.push(dest);
  }
  say(`restore: files: ${written.length} written with mode 0600 (${kib(written.length ? [...checked.files.values()].reduce((a, b) => a + b.length, 0) : 0)})`);
  return { manifest: m, restored: true, files: written };
}
