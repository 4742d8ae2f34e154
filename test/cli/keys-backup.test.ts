/** `damm init` (root), `damm keys ...`, `damm backup`, `damm restore` through the built binary, errors included. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { requireBuiltCli, runDamm, startServe } from '../helpers/cli.js';

let database: TestDatabase;
let work: string;
let dataDir: string;

const damm = (args: string[], opts: { allowFail?: boolean; env?: Record<string, string> } = {}) =>
  runDamm(args, { DATABASE_URL: database.url, DAMM_DATA_DIR: dataDir, ...opts.env }, opts);

const mode = async (f: string) => (await stat(f)).mode & 0o777;

before(async () => {
  await requireBuiltCli();
  database = await createTestDatabase();
  work = await mkdtemp(path.join(tmpdir(), 'damm-cli-kb-'));
  dataDir = path.join(work, 'data');
});
after(async () => {
  await database?.close();
  await rm(work, { recursive: true, force: true });
});

test('--help works on the keys, backup and restore commands', async () => {
  for (const cmd of [['keys'], ['keys', 'status'], ['keys', 'rotate'], ['keys', 'retire'], ['keys', 'root-rotate'], ['keys', 'refresh'], ['keys', 'export-root'], ['keys', 'import-root'], ['backup'], ['restore']]) {
    const r = await damm([...cmd, '--help']);
    assert.match(r.stdout, /Usage: damm/, cmd.join(' '));
  }
});

let rootKeys: string[] = [];
let pin = '';

test('init creates an offline root (n keys, threshold t), root v1, and prints the pin loudly', async () => {
  const r = await damm(['init', '--root-keys', '2', '--root-threshold', '2']);
  assert.match(r.stdout, /OFFLINE ROOT KEYS \(2 keys, threshold 2\)/);
  assert.match(r.stdout, /MOVE THEM OFF THIS MACHINE/);
  pin = /pin this in clients\): ([0-9a-f]{64})/.exec(r.stdout)![1]!;
  const off = path.join(dataDir, 'offline-root');
  assert.equal(await mode(off), 0o700);
  const names = await readdir(off);
  rootKeys = names.filter((n) => n.endsWith('.key')).map((n) => path.join(off, n));
  assert.equal(rootKeys.length, 2);
  for (const f of rootKeys) assert.equal(await mode(f), 0o600);
  for (const k of (await readdir(path.join(dataDir, 'keys')))) assert.equal(await mode(path.join(dataDir, 'keys', k)), 0o600);
  // Idempotent: a second init changes nothing and reports the same pin.
  const again = await damm(['init']);
  assert.ok(again.stdout.includes(pin));
  assert.doesNotMatch(again.stdout, /OFFLINE ROOT KEYS/);
  assert.equal(await (await damm(['keys', 'export-root', '1'])).stdout.trim(), (await readFile(path.join(off, 'root-1.json'), 'utf8')).trim());
});

test('keys status and rotate: threshold enforced, overlap and revocation reported, errors clear', async () => {
  const status = JSON.parse((await damm(['keys', 'status', '--json'])).stdout);
  assert.equal(status.rootVersion, 1);
  assert.equal(status.rootV1Sha256, pin);
  assert.equal(status.root.threshold, 2);
  assert.equal(status.catalog.keys.length, 1);
  assert.equal(status.catalog.keys[0].keyFileHere, true);
  assert.deepEqual(status.warnings, []);

  const none = await damm(['keys', 'rotate', '--role', 'catalog'], { allowFail: true });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^damm: Pass the offline root key\(s\) with --root-key/m);
  const one = await damm(['keys', 'rotate', '--role', 'catalog', '--root-key', rootKeys[0]!], { allowFail: true });
  assert.equal(one.code, 1);
  assert.match(one.stderr, /needs 2 root key\(s\) to sign its successor; 1 given .*\[invalid_argument\]/);
  const bogus = await damm(['keys', 'rotate', '--role', 'wizard', '--root-key', rootKeys[0]!], { allowFail: true });
  assert.notEqual(bogus.code, 0);
  assert.match(bogus.stderr, /catalog or admission/);
  const notAKey = await damm(['keys', 'rotate', '--role', 'catalog', '--root-key', path.join(dataDir, 'operator-token')], { allowFail: true });
  assert.equal(notAKey.code, 1);
  assert.match(notAKey.stderr, /not JSON|not a DAMM root key/);
  const both = await damm(['keys', 'rotate', '--role', 'catalog', '--root-key', rootKeys[0]!, '--root-key', rootKeys[1]!, '--overlap', '2d']);
  assert.match(both.stdout, /published root v2 \(was v1\)/);
  assert.match(both.stdout, /keeps signing until/);
  const leaked = JSON.parse((await damm(['keys', 'rotate', '--role', 'admission', '--revoke-old', '--json', '--root-key', rootKeys[0]!, '--root-key', rootKeys[1]!])).stdout);
  assert.equal(leaked.version, 3);
  assert.equal(leaked.dropped[0].reason, 'revoked');
  assert.equal(await mode(leaked.newKey.file), 0o600);
  const conflicting = await damm(['keys', 'rotate', '--role', 'admission', '--revoke-old', '--replace-lost', '--root-key', rootKeys[0]!], { allowFail: true });
  assert.equal(conflicting.code, 1);

  const after = JSON.parse((await damm(['keys', 'status', '--json'])).stdout);
  assert.equal(after.rootVersion, 3);
  assert.equal(after.catalog.keys.length, 2, 'old and new catalog keys during the overlap');
  assert.ok(after.catalog.keys.every((k: { validNow: boolean }) => k.validNow));
  assert.equal(after.admission.keys.length, 1);
  const human = (await damm(['keys', 'status'])).stdout;
  assert.match(human, /root v3/);
  assert.match(human, new RegExp(`pin \\(sha256 of root v1\\): ${pin}`));
});

let identityFile = '';
let archive = '';

test('backup: identity generation, one encrypted archive with progress on stderr, clear errors', async () => {
  identityFile = path.join(work, 'backup-identity.txt');
  const gen = await damm(['backup', '--identity-gen', '--identity-out', identityFile]);
  const recipient = /recipient: (age1[0-9a-z]+)/.exec(gen.stdout)![1]!;
  assert.equal(await mode(identityFile), 0o600);
  assert.match(await readFile(identityFile, 'utf8'), /^# created: .*\n# public key: age1.*\nAGE-SECRET-KEY-1[0-9A-Z]+\n$/);
  const again = await damm(['backup', '--identity-gen', '--identity-out', identityFile], { allowFail: true });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists/);

  const noRecipient = await damm(['backup', '--out', path.join(work, 'x.age')], { allowFail: true });
  assert.equal(noRecipient.code, 1);
  assert.match(noRecipient.stderr, /at least one --recipient/);
  const badRecipient = await damm(['backup', '--recipient', 'ssh-ed25519 AAAA', '--out', path.join(work, 'x.age')], { allowFail: true });
  assert.equal(badRecipient.code, 1);
  assert.match(badRecipient.stderr, /is not an age recipient/);

  archive = path.join(work, 'out', 'damm.age');
  const r = await damm(['backup', '--recipient', recipient, '--out', archive]);
  assert.equal(r.stdout.trim(), archive);
  assert.match(r.stderr, /^backup: stage dump: schema /m);
  assert.match(r.stderr, /^backup: table trust_roots: 3 rows, /m);
  assert.match(r.stderr, /^backup: files: 4 \(online keys, operator token\)/m);
  assert.match(r.stderr, /^backup: wrote .* \(age-encrypted\)/m);
  assert.equal(await mode(archive), 0o600);
  const bytes = await readFile(archive);
  assert.ok(bytes.toString('latin1', 0, 21) === 'age-encryption.org/v1');
  const token = (await readFile(path.join(dataDir, 'operator-token'), 'utf8')).trim();
  assert.equal(bytes.indexOf(Buffer.from(token)), -1, 'the operator token is not in the file in plaintext');
  for (const k of await readdir(path.join(dataDir, 'keys'))) {
    const seed = JSON.parse(await readFile(path.join(dataDir, 'keys', k), 'utf8')).seed as string;
    assert.equal(bytes.indexOf(Buffer.from(seed)), -1, `key ${k} is not in the file in plaintext`);
  }
  const verify = await damm(['restore', '--identity', identityFile, '--in', archive, '--verify-only']);
  assert.match(verify.stdout, /^archive OK: \d+ tables/);
});

test('restore: wrong identity, damaged archive and non-empty target fail clearly; a fresh target comes back and serves', async (t) => {
  const other = path.join(work, 'other-identity.txt');
  await damm(['backup', '--identity-gen', '--identity-out', other]);
  const fresh = await createTestDatabase();
  t.after(() => fresh.close());
  const newDir = path.join(work, 'restored');
  const env = { DATABASE_URL: fresh.url };

  const wrong = await damm(['restore', '--identity', other, '--in', archive, '--data-dir', newDir], { allowFail: true, env });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /None of the given identities can open this backup.*\[forbidden\]/);
  const noIdentity = await damm(['restore', '--in', archive, '--data-dir', newDir], { allowFail: true, env });
  assert.equal(noIdentity.code, 1);
  assert.match(noIdentity.stderr, /--identity/);
  const damaged = path.join(work, 'damaged.age');
  const bytes = Buffer.from(await readFile(archive));
  bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
  await writeFile(damaged, bytes);
  const bad = await damm(['restore', '--identity', identityFile, '--in', damaged, '--data-dir', newDir], { allowFail: true, env });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /damaged or was altered/);
  const into = await damm(['restore', '--identity', identityFile, '--in', archive, '--data-dir', newDir], { allowFail: true }); // the source database: not empty
  assert.equal(into.code, 1);
  assert.match(into.stderr, /target database is not empty .*--force.*\[conflict\]/);
  assert.equal(await stat(path.join(newDir, 'keys')).then(() => true, () => false), false, 'a refused restore writes no key file');

  const ok = await damm(['restore', '--identity', identityFile, '--in', archive, '--data-dir', newDir], { env });
  assert.match(ok.stdout, /^restored into /m);
  assert.ok(ok.stdout.includes(pin));
  assert.match(ok.stderr, /^restore: rows committed/m);
  for (const k of await readdir(path.join(newDir, 'keys'))) assert.equal(await mode(path.join(newDir, 'keys', k)), 0o600);
  assert.equal(await mode(path.join(newDir, 'operator-token')), 0o600);
  const status = JSON.parse((await damm(['keys', 'status', '--json', '--data-dir', newDir], { env })).stdout);
  assert.equal(status.rootVersion, 3);
  assert.deepEqual(status.warnings, []);

  const { proc: server, url } = await startServe({ ...env, DAMM_LOG_LEVEL: 'warn' }, ['--data-dir', newDir]);
  t.after(() => server.kill('SIGTERM'));
  const trust = (await (await fetch(`${url}/v1/trust`)).json()) as { latestVersion: number; rootV1Sha256: string };
  assert.deepEqual([trust.latestVersion, trust.rootV1Sha256], [3, pin]);
  // The restored operator token works against the restored service.
  const token = (await readFile(path.join(newDir, 'operator-token'), 'utf8')).trim();
  const devs = await fetch(`${url}/v1/operator/devices`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(devs.status, 200);
});
