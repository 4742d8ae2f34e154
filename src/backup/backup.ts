/**
 * `damm backup`: one age-encrypted archive (src/backup/archive.ts inside) of
 * the database (a logical dump of every DAMM table, taken in one
 * REPEATABLE READ snapshot through the ordinary `pg` driver, so it works the
 * same against the embedded store and DATABASE_URL), the online key files,
 * the operator token, and a manifest. The published roots are rows of
 * trust_roots and travel with the database.
 *
 * Nothing secret touches the disk unencrypted: rows and key files stream
 * from Postgres and memory through the age encrypter into a temp file beside
 * the target (only ciphertext), which is fsynced and renamed into place.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from '../io/durable-file.js';
import { Encrypter } from 'age-encryption';
import { DammError } from '../core/errors.js';
import { withClient, type Db, type Tx } from '../store/db.js';
import { VERSION } from '../io/version.js';
import { keysDir } from '../io/data-dir.js';
import { FORMAT, frame, MAGIC } from './archive.js';
import { EXACT_TEXT_SETTINGS, ident, listSequences, listTables, type ColumnInfo } from './schema.js';

export const OPERATOR_TOKEN_FILE = 'operator-token';
/** Advisory lock a scheduled backup takes so several processes do not back up at once. */
export const BACKUP_LOCK = 0x44414d42; // "DAMB"
const FETCH_ROWS = 2000;
const ROWS_FRAME_BYTES = 256 * 1024;

export interface ManifestPart {
  name: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  format: typeof FORMAT;
  dammVersion: string;
  createdAt: string;
  /** Migration versions applied in the source database. */
  schema: number[];
  tables: (ManifestPart & { rows: number; columns: ColumnInfo[] })[];
  sequences: { name: string; lastValue: string; isCalled: boolean; ownedBy: { table: string; column: string } | null }[];
  files: (ManifestPart & { mode: number })[];
  roots: { version: number; payloadSha256: string }[];
  totals: { rows: number; bytes: number };
}

export interface BackupOptions {
  db: Db;
  dataDir: string;
  /** age recipients (age1... or age1pq1...). */
  recipients: string[];
  /** The archive to write; written as a temp file beside it and renamed. */
  out: string;
  now?: Date;
  progress?: (line: string) => void;
  /** Skip (return null) when another process holds the backup lock. */
  skipIfLocked?: boolean;
}

export interface BackupResult {
  file: string;
  bytes: number;
  manifest: Manifest;
}

export function kib(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function checkRecipients(recipients: string[]): Encrypter {
  if (recipients.length === 0) throw new DammError('invalid_argument', 'Name at least one age recipient (--recipient age1...); make one with "damm backup --identity-gen".');
  const e = new Encrypter();
  for (const r of recipients) {
    const s = r.trim();
    try {
      if (!/^age1[0-9a-z]+$/.test(s)) throw new Error('bad prefix');
      e.addRecipient(s);
    } catch {
      throw new DammError('invalid_argument', `"${s.slice(0, 24)}${s.length > 24 ? '…' : ''}" is not an age recipient (expected age1...).`);
    }
  }
  return e;
}

const sha = () => createHash('sha256');

async function* dumpStream(tx: Tx, opts: BackupOptions, manifest: Manifest, now: Date): AsyncGenerator<Uint8Array> {
  const say = opts.progress ?? (() => {});
  const enc = new TextEncoder();
  yield enc.encode(MAGIC);
  yield* frame({ type: 'begin', format: FORMAT, createdAt: now.toISOString(), dammVersion: VERSION });

  for (const table of await listTables(tx)) {
    yield* frame({ type: 'table', name: table.name, columns: table.columns });
    const h = sha();
    let rows = 0;
    let bytes = 0;
    let lastReport = 0;
    const select = table.columns.map((c) => `${ident(c.name)}::text`).join(', ');
    await tx.query(`DECLARE damm_backup_cur NO SCROLL CURSOR FOR SELECT ${select} FROM ${ident(table.name)}`);
    let pending: string[] = [];
    let pendingBytes = 0;
    const flush = function* (): Generator<Uint8Array> {
      if (pending.length === 0) return;
      const body = enc.encode(pending.join(''));
      h.update(body);
      bytes += body.length;
      pending = [];
      pendingBytes = 0;
      yield* frame({ type: 'rows' }, body);
    };
    for (;;) {
      const r = await tx.query<unknown[]>({ text: `FETCH FORWARD ${FETCH_ROWS} FROM damm_backup_cur`, rowMode: 'array' });
      if (r.rows.length === 0) break;
      for (const row of r.rows) {
        const line = `${JSON.stringify(row)}\n`;
        pending.push(line);
        pendingBytes += line.length;
        rows++;
        if (pendingBytes >= ROWS_FRAME_BYTES) yield* flush();
      }
      if (rows - lastReport >= 50_000) {
        lastReport = rows;
        say(`backup: table ${table.name}: ${rows} rows so far`);
      }
    }
    yield* flush();
    await tx.query('CLOSE damm_backup_cur');
    yield* frame({ type: 'table-end', name: table.name, rows });
    manifest.tables.push({ name: table.name, rows, bytes, sha256: h.digest('hex'), columns: table.columns });
    manifest.totals.rows += rows;
    manifest.totals.bytes += bytes;
    say(`backup: table ${table.name}: ${rows} rows, ${kib(bytes)}`);
  }

  for (const s of await listSequences(tx)) {
    const v = await tx.query<{ last_value: string; is_called: boolean }>(`SELECT last_value::text AS last_value, is_called FROM ${ident(s.name)}`);
    manifest.sequences.push({ name: s.name, lastValue: v.rows[0]!.last_value, isCalled: v.rows[0]!.is_called, ownedBy: s.ownedBy });
  }
  say(`backup: sequences: ${manifest.sequences.length}`);

  const files: { name: string; file: string }[] = [];
  const kdir = keysDir(opts.dataDir);
  for (const n of (await readdir(kdir).catch(() => [] as string[])).filter((f) => f.endsWith('.key')).sort()) files.push({ name: `keys/${n}`, file: path.join(kdir, n) });
  const tokenFile = path.join(opts.dataDir, OPERATOR_TOKEN_FILE);
  if (await stat(tokenFile).then(() => true, () => false)) files.push({ name: OPERATOR_TOKEN_FILE, file: tokenFile });
  for (const f of files) {
    const body = new Uint8Array(await readFile(f.file));
    yield* frame({ type: 'file', name: f.name, mode: 0o600 }, body);
    manifest.files.push({ name: f.name, bytes: body.length, sha256: sha().update(body).digest('hex'), mode: 0o600 });
    manifest.totals.bytes += body.length;
  }
  say(`backup: files: ${files.length} (online keys${files.some((f) => f.name === OPERATOR_TOKEN_FILE) ? ', operator token' : ''})`);

  const body = enc.encode(JSON.stringify(manifest));
  yield* frame({ type: 'manifest' }, body);
  yield* frame({ type: 'end' });
}

function toStream(gen: AsyncGenerator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await gen.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      await gen.return(undefined);
    },
  });
}

export async function createBackup(opts: BackupOptions): Promise<BackupResult | null> {
  const now = opts.now ?? new Date();
  const say = opts.progress ?? (() => {});
  const encrypter = checkRecipients(opts.recipients);
  const out = path.resolve(opts.out);
  await mkdir(path.dirname(out), { recursive: true, mode: 0o700 });
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.tmp-${randomBytes(6).toString('hex')}`);

  // withClient keeps a dropped connection from crashing the process and from going back to the pool.
  return withClient(opts.db, async (client) => {
    let wroteTmp = false;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      for (const s of EXACT_TEXT_SETTINGS) await client.query(s);
      if (opts.skipIfLocked) {
        const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [BACKUP_LOCK]);
        if (!got.rows[0]!.ok) {
          await client.query('ROLLBACK');
          return null;
        }
      }
      const schema = (await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version);
      const hasRoots = (await client.query<{ t: string | null }>("SELECT to_regclass('trust_roots')::text AS t")).rows[0]!.t !== null;
      const roots = hasRoots
        ? (await client.query<{ version: number; payload_sha256: string }>('SELECT version, payload_sha256 FROM trust_roots ORDER BY version')).rows.map((r) => ({ version: r.version, payloadSha256: r.payload_sha256 }))
        : [];
      const manifest: Manifest = {
        format: FORMAT,
        dammVersion: VERSION,
        createdAt: now.toISOString(),
        schema,
        tables: [],
        sequences: [],
        files: [],
        roots,
        totals: { rows: 0, bytes: 0 },
      };
      say(`backup: stage dump: schema ${schema.join(',')}, ${roots.length} published root(s), encrypting to ${opts.recipients.length} recipient(s)`);
      const encrypted = await encrypter.encrypt(toStream(dumpStream(client, opts, manifest, now)));
      const fh = await open(tmp, 'wx', 0o600);
      wroteTmp = true;
      let bytes = 0;
      try {
        const reader = encrypted.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          await fh.write(value);
          bytes += value.length;
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      await client.query('COMMIT');
      await rename(tmp, out);
      wroteTmp = false;
      await fsyncDir(path.dirname(out));
      say(`backup: wrote ${out}: ${kib(bytes)} (age-encrypted), ${manifest.tables.length} tables, ${manifest.totals.rows} rows, ${manifest.files.length} files`);
      return { file: out, bytes, manifest };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      if (wroteTmp) await rm(tmp, { force: true });
    }
  });
}
