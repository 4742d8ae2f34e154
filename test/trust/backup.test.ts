/**
 * Encrypted backup and restore of a real store: every row of every table
 * comes back exactly (bytea, inet[], jsonb, timestamps, awkward text),
 * sequences land past the restored values, a damaged or foreign archive is
 * refused before anything changes, a non-empty target is refused unless
 * forced, and scheduled backups keep the newest N.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Encrypter } from 'age-encryption';
import pino from 'pino';
import { createBackup } from '../../src/backup/backup.js';
import { frame, MAGIC, FORMAT } from '../../src/backup/archive.js';
import { generateBackupIdentity } from '../../src/backup/identity.js';
import { databaseHasData, restoreBackup } from '../../src/backup/restore.js';
import { listTables } from '../../src/backup/schema.js';
import { listBackups, startBackupJob } from '../../src/backup/schedule.js';
import { backupSchedule, loadConfig } from '../../src/control-plane/config.js';
import { audit } from '../../src/store/audit.js';
import { systemClock } from '../../src/core/clock.js';
import type { Db } from '../../src/store/db.js';
import { startTestControlPlane, registerTestGateway, type TestControlPlane } from '../helpers/control-plane.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';
import { enrollDevices } from './helpers.js';

async function everything(db: Db): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of await listTables(db)) {
    const r = await db.query<{ row: string }>(`SELECT to_jsonb(x)::text AS row FROM "${t.name}" x`);
    out[t.name] = r.rows.map((x) => x.row).sort();
  }
  return out;
}

async function busyControlPlane(): Promise<TestControlPlane> {
  const cp = await startTestControlPlane({ config: { mintLimitPerHour: 1000 } });
  await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey, egressIps: ['192.0.2.10', '2001:db8::10'] });
  const devices = await enrollDevices(cp, 4);
  const revoked = await cp.op('POST', `/v1/operator/devices/${devices[1]!.deviceId}/revoke`, { reason: 'test "quotes", back\\slash,\nnewline, ünïcödé ✓' });
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  await cp.op('POST', '/v1/operator/invites', { uses: 3, tier: 'standard', note: "it's a 'note' with \\N and \\t" });
  await audit(cp.ctx.db, { at: new Date('2026-02-03T04:05:06.789Z'), actor: 'test', action: 'odd.text', subject: null, details: { s: 'tab\there', n: null, arr: [1, 2.5, 'x'], big: 9007199254740993 } });
  await cp.call('GET', '/v1/catalog');
  return cp;
}

async function emptyDatabase(): Promise<TestDatabase> {
  const d = await createTestDatabase();
  await d.db.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  return d;
}

test('backup then restore into an empty database reproduces every row, key file and sequence', async (t) => {
  const cp = await busyControlPlane();
  t.after(() => cp.stop());
  const dir = await mkdtemp(path.join(tmpdir(), 'damm-bk-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const id = await generateBackupIdentity();
  const lines: string[] = [];
  const res = await createBackup({ db: cp.ctx.db, dataDir: cp.dataDir, recipients: [id.recipient], out: path.join(dir, 'a.age'), progress: (l) => lines.push(l) });
  assert.ok(res);
  assert.ok(lines.some((l) => /^backup: table devices: 4 rows, \d/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^backup: wrote .*a\.age: .* \(age-encrypted\)/.test(l)));
  const m = res.manifest;
  assert.equal(m.format, FORMAT);
  assert.ok(m.tables.every((x) => /^[0-9a-f]{64}$/.test(x.sha256)));
  assert.ok(m.roots.length >= 1);
  assert.ok(!m.tables.some((x) => x.name === 'rate_windows' || x.name === 'schema_migrations'));
  assert.deepEqual(m.files.map((f) => f.name).sort(), (await readdir(path.join(cp.dataDir, 'keys'))).map((f) => `keys/${f}`).sort());

  const target = await emptyDatabase();
  t.after(() => target.close());
  const dataDir = await mkdtemp(path.join(tmpdir(), 'damm-rs-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const progress: string[] = [];
  const r = await restoreBackup({ db: target.db, dataDir, identities: [id.identity], input: res.file, progress: (l) => progress.push(l) });
  assert.ok(progress.some((l) => l.startsWith('restore: stage verify')) && progress.some((l) => l.startsWith('restore: rows committed')));

  assert.deepEqual(await everything(target.db), await everything(cp.ctx.db));
  for (const f of r.files) {
    assert.equal((await stat(f)).mode & 0o777, 0o600);
    assert.deepEqual(await readFile(f), await readFile(path.join(cp.dataDir, 'keys', path.basename(f))));
  }
  // Sequences continue past the restored rows (bigserial and the address offsets).
  for (const [seq, table, col] of [['audit_log_id_seq', 'audit_log', 'id'], ['address_offset_seq', 'devices', 'address_offset']] as const) {
    const next = Number((await target.db.query(`SELECT nextval('${seq}') AS n`)).rows[0].n);
    const max = Number((await target.db.query(`SELECT max(${col}) AS m FROM ${table}`)).rows[0].m);
    assert.ok(next > max, `${seq}: next ${next} > max ${max}`);
  }

  // A second restore into it is refused (not empty) and changes nothing; --force replaces.
  const beforeForce = await everything(target.db);
  await assert.rejects(restoreBackup({ db: target.db, dataDir, identities: [id.identity], input: res.file }), /not empty .*--force/s);
  assert.deepEqual(await everything(target.db), beforeForce);
  await target.db.query("INSERT INTO settings (key, value) VALUES ('stray', '1')");
  await restoreBackup({ db: target.db, dataDir, identities: [id.identity], input: res.file, force: true });
  assert.deepEqual(await everything(target.db), await everything(cp.ctx.db));
});

test('a migrated but unused database counts as empty; a used one does not', async (t) => {
  const d = await createTestDatabase(); // migrations ran (they seed a row or two)
  t.after(() => d.close());
  assert.deepEqual(await databaseHasData(d.db), { nonEmpty: false, tables: [] });
  await d.db.query("INSERT INTO settings (key, value) VALUES ('x', '1')");
  assert.deepEqual(await databaseHasData(d.db), { nonEmpty: true, tables: ['settings'] });
});

test('wrong identity, damaged, truncated, inconsistent or foreign archives are refused before anything changes', async (t) => {
  const cp = await busyControlPlane();
  t.after(() => cp.stop());
  const dir = await mkdtemp(path.join(tmpdir(), 'damm-bk-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const id = await generateBackupIdentity();
  const other = await generateBackupIdentity();
  const res = (await createBackup({ db: cp.ctx.db, dataDir: cp.dataDir, recipients: [id.recipient], out: path.join(dir, 'a.age') }))!;
  const target = await emptyDatabase();
  t.after(() => target.close());
  const dataDir = await mkdtemp(path.join(tmpdir(), 'damm-rs-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const attempt = (input: string, identities = [id.identity]) => restoreBackup({ db: target.db, dataDir, identities, input });

  await assert.rejects(attempt(res.file, [other.identity]), (e: Error & { code?: string }) => e.code === 'forbidden' && /encrypted to other recipients/.test(e.message));
  const bytes = await readFile(res.file);
  const flipped = Buffer.from(bytes);
  flipped[bytes.length - 100]! ^= 0x01;
  await writeFile(path.join(dir, 'flipped.age'), flipped);
  await assert.rejects(attempt(path.join(dir, 'flipped.age')), /damaged or was altered: decryption failed/);
  await writeFile(path.join(dir, 'short.age'), bytes.subarray(0, bytes.length - 40));
  await assert.rejects(attempt(path.join(dir, 'short.age')), /damaged or was altered/);
  await writeFile(path.join(dir, 'plain.age'), 'DAMM-BACKUP 1\n');
  await assert.rejects(attempt(path.join(dir, 'plain.age')), /not an age-encrypted DAMM backup/);
  await assert.rejects(attempt(path.join(dir, 'missing.age')), /does not exist/);

  // Correctly encrypted, but the parts do not match the manifest (or name a file outside keys/).
  const forge = async (name: string, frames: Uint8Array[][]) => {
    const e = new Encrypter();
    e.addRecipient(id.recipient);
    const plain = Buffer.concat([Buffer.from(MAGIC), ...frames.flat()]);
    await writeFile(path.join(dir, name), await e.encrypt(plain));
    return path.join(dir, name);
  };
  const begin = frame({ type: 'begin', format: FORMAT });
  const body = Buffer.from('["x","1"]\n');
  const manifest = (sha: string) =>
    frame({ type: 'manifest' }, Buffer.from(JSON.stringify({ format: FORMAT, schema: [1], tables: [{ name: 'settings', rows: 1, bytes: body.length, sha256: sha, columns: [] }], sequences: [], files: [], roots: [], totals: { rows: 1, bytes: body.length } })));
  const settings = [frame({ type: 'table', name: 'settings', columns: [{ name: 'key', type: 'text' }, { name: 'value', type: 'jsonb' }] }), frame({ type: 'rows' }, body), frame({ type: 'table-end', name: 'settings', rows: 1 })].flat();
  await assert.rejects(attempt(await forge('lying.age', [begin, settings, manifest('0'.repeat(64)), frame({ type: 'end' })])), /table settings does not match the manifest/);
  await assert.rejects(attempt(await forge('noend.age', [begin, settings, manifest(createHash('sha256').update(body).digest('hex'))])), /truncated/);
  await assert.rejects(attempt(await forge('escape.age', [begin, frame({ type: 'file', name: '../../etc/passwd', mode: 0o600 }, Buffer.from('x'))])), /unexpected file entry/);

  assert.deepEqual(await listTables(target.db), [], 'the target was never touched');
  assert.deepEqual(await readdir(dataDir), []);
  // --verify-only reads the good archive completely and changes nothing.
  const ok = await restoreBackup({ identities: [id.identity], input: res.file, dataDir, verifyOnly: true });
  assert.equal(ok.restored, false);
  assert.equal(ok.manifest.totals.rows, res.manifest.totals.rows);
});

test('scheduled backups: off unless configured, refuse bad settings, run on the interval and keep the newest N', async (t) => {
  // The DAMM_BACKUP_* settings are part of the one configuration schema (src/control-plane/config.ts).
  const scheduleFromEnv = (env: NodeJS.ProcessEnv) => backupSchedule(loadConfig(env));
  assert.equal(scheduleFromEnv({}), null);
  assert.throws(() => scheduleFromEnv({ DAMM_BACKUP_DIR: '/tmp/x' }), /DAMM_BACKUP_RECIPIENTS is empty/);
  // Whether age can encrypt to a recipient is checked as the job starts, before any timer (damm serve refuses to start).
  const silent = pino({ level: 'silent' });
  const badRecipient = scheduleFromEnv({ DAMM_BACKUP_DIR: '/tmp/x', DAMM_BACKUP_RECIPIENTS: 'age1nope' })!;
  assert.throws(() => startBackupJob({ db: null as never, dataDir: '/nonexistent', clock: systemClock, log: silent }, badRecipient), /DAMM_BACKUP_RECIPIENTS/);
  assert.throws(() => scheduleFromEnv({ DAMM_BACKUP_RECIPIENTS: 'age1x' }), /DAMM_BACKUP_DIR is not/);
  const id = await generateBackupIdentity();
  assert.throws(() => scheduleFromEnv({ DAMM_BACKUP_DIR: '/tmp/x', DAMM_BACKUP_RECIPIENTS: id.recipient, DAMM_BACKUP_RETAIN: '0' }), /RETAIN/);
  assert.throws(() => scheduleFromEnv({ DAMM_BACKUP_DIR: '/tmp/x', DAMM_BACKUP_RECIPIENTS: id.recipient, DAMM_BACKUP_INTERVAL_HOURS: 'soon' }), /INTERVAL_HOURS/);

  const dir = await mkdtemp(path.join(tmpdir(), 'damm-sched-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const env = { DAMM_BACKUP_DIR: dir, DAMM_BACKUP_RECIPIENTS: id.recipient, DAMM_BACKUP_INTERVAL_HOURS: String(0.3 / 3600), DAMM_BACKUP_RETAIN: '2' };
  const { backupDir, backupRecipients, backupIntervalHours, backupRetain } = loadConfig(env);
  const cp = await startTestControlPlane({ config: { backupDir, backupRecipients, backupIntervalHours, backupRetain } });
  t.after(() => cp.stop());
  const deadline = Date.now() + 15_000;
  let seen = 0;
  while (Date.now() < deadline) {
    const n = (await listBackups(dir)).length;
    seen = Math.max(seen, n);
    if (cp.logs.filter((l) => l.includes('scheduled backup written')).length >= 4) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(cp.logs.filter((l) => l.includes('scheduled backup written')).length >= 4, 'at least four backups ran');
  const files = await listBackups(dir);
  assert.equal(files.length, 2, `retention keeps 2 (saw ${files.join(', ')})`);
  // The newest backup is written before the oldest is pruned, so for a moment
  // there may be retain + 1 files; never more.
  assert.ok(seen <= 3, `saw ${seen} backups at once`);
  for (const f of files) {
    assert.equal((await stat(path.join(dir, f))).mode & 0o777, 0o600);
    const v = await restoreBackup({ identities: [id.identity], input: path.join(dir, f), dataDir: dir, verifyOnly: true });
    assert.ok(v.manifest.tables.length > 5);
  }
  assert.deepEqual((await readdir(dir)).filter((f) => !files.includes(f)), [], 'no temp files left behind');
});
