/**
 * `damm catalog show` through the built binary against a running `damm serve`:
 * the client pins root v1 by its sha256, walks the root chain, verifies the
 * catalog, and refuses (exit 1, error code in brackets) on any failure,
 * including after a catalog key rotation that revokes the old key.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { requireBuiltCli, runDamm, startServe } from '../helpers/cli.js';
import { wgKeyPair } from '../helpers/keys.js';

let database: TestDatabase;
let work: string;
let dataDir: string;
let server: ChildProcess | null = null;
let tamper: Server | null = null;
let url = '';
let pin = '';

const damm = (args: string[], opts: { allowFail?: boolean; env?: Record<string, string> } = {}) =>
  runDamm(args, { DATABASE_URL: database.url, DAMM_DATA_DIR: dataDir, ...opts.env }, opts);

const exists = (f: string) => stat(f).then(() => true, () => false);

before(async () => {
  await requireBuiltCli();
  database = await createTestDatabase();
  work = await mkdtemp(path.join(tmpdir(), 'damm-cli-catalog-'));
  dataDir = path.join(work, 'data');
  pin = /pin this in clients\): ([0-9a-f]{64})/.exec((await damm(['init'])).stdout)![1]!;
  ({ proc: server, url } = await startServe({ DATABASE_URL: database.url, DAMM_DATA_DIR: dataDir, DAMM_LOG_LEVEL: 'warn' }));
  const gw = JSON.parse((await damm(['gateway', 'add', '--region', 'NL', '--country', 'NL', '--json'])).stdout);
  const reg = await fetch(`${url}/v1/gateways/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ registrationToken: gw.registrationToken, doors: [{ lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: wgKeyPair().publicKey, params: null, endpoints: [{ host: '192.0.2.1', port: 51820 }] }], egressIps: ['192.0.2.1'] }),
  });
  assert.equal(reg.status, 201);
});

after(async () => {
  server?.kill('SIGTERM');
  tamper?.close();
  await database?.close();
  await rm(work, { recursive: true, force: true });
});

test('--help describes catalog show', async () => {
  const r = await damm(['catalog', 'show', '--help']);
  assert.match(r.stdout, /Usage: damm catalog show/);
  for (const flag of ['--url', '--root-sha256', '--state-dir', '--json']) assert.ok(r.stdout.includes(flag), flag);
});

let firstVersion = 0;

test('with the right pin: root v1 accepted, catalog verified, front doors printed; the state directory remembers', async () => {
  const stateDir = path.join(work, 'client');
  const r = await damm(['catalog', 'show', '--url', url, '--root-sha256', pin, '--state-dir', stateDir]);
  assert.match(r.stdout, /^catalog v\d+ from http:\/\/\S+: issued \S+, expires \S+$/m);
  assert.match(r.stdout, new RegExp(`verified against root v1, expires \\S+; pinned root v1 ${pin}`));
  assert.match(r.stdout, /^id\s+region\s+country\s+tier\s+protocol\s+endpoint\s+tunnel$/m);
  assert.match(r.stdout, /\bNL\s+NL\s+T0\s+wireguard\s+192\.0\.2\.1:51820\s+10\.66\.0\.0\/16 fd0d:a44d:66::\/64$/m);
  assert.ok(await exists(path.join(stateDir, 'trust-state.json')));
  assert.equal((await readFile(path.join(stateDir, 'root-v1.sha256'), 'utf8')).trim(), pin);

  // Later runs need no pin (the state holds the trusted root); JSON for scripts.
  const j = JSON.parse((await damm(['catalog', 'show', '--url', url, '--state-dir', stateDir, '--json'])).stdout);
  assert.equal(j.rootV1Sha256, pin);
  assert.equal(j.root.version, 1);
  assert.equal(j.catalog.stale, false);
  assert.equal(j.catalog.signers.length, 1);
  assert.deepEqual(j.frontDoors.map((d: Record<string, unknown>) => [d.region, d.country, d.tier, d.protocol, d.endpoint, d.params]), [['NL', 'NL', 'T0', 'wireguard', '192.0.2.1:51820', null]]);
  firstVersion = j.catalog.version;

  // The pin may come from the environment, and DAMM_DATA_DIR puts the state under <data-dir>/client-trust.
  const viaEnv = await damm(['catalog', 'show', '--url', url, '--json'], { env: { DAMM_ROOT_SHA256: pin.toUpperCase() } });
  assert.equal(JSON.parse(viaEnv.stdout).stateDir, path.join(dataDir, 'client-trust'));
});

test('a wrong pin, no pin, a malformed pin, or another pin for a used state directory: refused, nothing trusted', async () => {
  const fresh = path.join(work, 'wrong-pin');
  const wrong = await damm(['catalog', 'show', '--url', url, '--root-sha256', 'ab'.repeat(32), '--state-dir', fresh], { allowFail: true });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^damm: Refusing the catalog from http:\/\/\S+: Root does not match the pinned sha256\. \[trust_invalid\]$/m);
  assert.equal(wrong.stdout, '');
  assert.equal(await exists(path.join(fresh, 'trust-state.json')), false, 'a root that failed the pin is never saved');

  const none = await damm(['catalog', 'show', '--url', url, '--state-dir', path.join(work, 'no-pin')], { allowFail: true });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /No trusted root in .* pass --root-sha256 .*\[invalid_argument\]/);

  const short = await damm(['catalog', 'show', '--url', url, '--root-sha256', pin.slice(0, 40), '--state-dir', fresh], { allowFail: true });
  assert.equal(short.code, 1);
  assert.match(short.stderr, /--root-sha256 must be the 64-hex-digit sha256 of root v1.*\[invalid_argument\]/);

  const other = await damm(['catalog', 'show', '--url', url, '--root-sha256', 'cd'.repeat(32), '--state-dir', path.join(work, 'client')], { allowFail: true });
  assert.equal(other.code, 1);
  assert.match(other.stderr, /trusts the root chain that starts at root v1 [0-9a-f]{64}, not (cd)+; use another --state-dir.*\[trust_invalid\]/);
});

test('a catalog altered on the way is refused with its error code', async () => {
  // A proxy that serves everything from the real service but bumps the catalog's version after signing.
  tamper = createServer(async (req, res) => {
    const upstream = await fetch(`${url}${req.url}`);
    let body = await upstream.text();
    if (req.url === '/v1/catalog') {
      const env = JSON.parse(body);
      const payload = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
      payload.version += 1000;
      env.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
      body = JSON.stringify(env);
    }
    res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => tamper!.listen(0, '127.0.0.1', resolve));
  const proxy = `http://127.0.0.1:${(tamper.address() as { port: number }).port}`;
  const r = await damm(['catalog', 'show', '--url', proxy, '--root-sha256', pin, '--state-dir', path.join(work, 'tampered')], { allowFail: true });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^damm: Refusing the catalog from http:\/\/127\.0\.0\.1:\d+: .*\[signature_invalid\]$/m);
  assert.equal(r.stdout, '');
});

test('after "damm keys rotate --role catalog --revoke-old" the same state directory walks to root v2 and accepts the new catalog', async () => {
  const off = path.join(dataDir, 'offline-root');
  const rootKeys = (await readdir(off)).filter((n) => n.endsWith('.key')).map((n) => path.join(off, n));
  const rotated = JSON.parse((await damm(['keys', 'rotate', '--role', 'catalog', '--revoke-old', '--json', ...rootKeys.flatMap((k) => ['--root-key', k])])).stdout);
  assert.equal(rotated.version, 2);
  const newKey: string = rotated.newKey.keyid;

  // The running service picks up root v2 and the new key file within seconds and re-signs the catalog.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const env = (await (await fetch(`${url}/v1/catalog`)).json()) as { signatures: { keyid: string }[] };
    if (env.signatures.some((s) => s.keyid === newKey)) break;
    if (Date.now() > deadline) throw new Error('the service did not re-sign the catalog with the new key within 20 s');
    await new Promise((r) => setTimeout(r, 250));
  }

  const stateDir = path.join(work, 'client');
  const r = await damm(['catalog', 'show', '--url', url, '--state-dir', stateDir]);
  assert.match(r.stdout, /verified against root v2 \(walked from v1\)/);
  assert.match(r.stdout, /\bNL\s+NL\s+T0\s+wireguard\s+192\.0\.2\.1:51820\s+10\.66\.0\.0\/16 fd0d:a44d:66::\/64$/m);
  const j = JSON.parse((await damm(['catalog', 'show', '--url', url, '--state-dir', stateDir, '--json'])).stdout);
  assert.equal(j.root.version, 2);
  assert.deepEqual(j.catalog.signers, [newKey], 'only the new key signs once the old one is revoked');
  assert.ok(j.catalog.version > firstVersion);

  // A fresh client with the same pin walks v1 -> v2 in one run.
  const fresh = JSON.parse((await damm(['catalog', 'show', '--url', url, '--root-sha256', pin, '--state-dir', path.join(work, 'fresh'), '--json'])).stdout);
  assert.equal(fresh.root.version, 2);
  assert.equal(fresh.root.walkedFrom, 1);
});
