/** The damm binary as an operator uses it: init, serve, passes, invites, gateways, devices, audit. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';
import { requireBuiltCli, runDamm, startServe } from '../helpers/cli.js';

let database: TestDatabase;
let dataDir: string;
let server: ChildProcess | null = null;
let url = '';

const damm = (args: string[], opts: { allowFail?: boolean } = {}) => runDamm(args, { DATABASE_URL: database.url, DAMM_DATA_DIR: dataDir }, opts);

before(async () => {
  await requireBuiltCli();
  database = await createTestDatabase();
  dataDir = await mkdtemp(path.join(tmpdir(), 'damm-cli-'));
});
after(async () => {
  server?.kill('SIGTERM');
  await database?.close();
  await rm(dataDir, { recursive: true, force: true });
});

test('--help works on every command', async () => {
  for (const cmd of [[], ['serve'], ['init'], ['pass', 'issue'], ['invite', 'issue'], ['device', 'list'], ['device', 'revoke'], ['device', 'suspend'], ['device', 'resume'], ['invite', 'revoke'], ['gateway', 'add'], ['gateway', 'list'], ['gateway', 'join'], ['gateway', 'drain'], ['gateway', 'undrain'], ['gateway', 'remove'], ['audit', 'tail']]) {
    const r = await damm([...cmd, '--help']);
    assert.match(r.stdout, /Usage: damm/, cmd.join(' '));
  }
});

test('init creates keys and a private operator token', async () => {
  const r = await damm(['init']);
  assert.match(r.stdout, /operator token written/);
  const tokenFile = path.join(dataDir, 'operator-token');
  assert.equal((await stat(tokenFile)).mode & 0o777, 0o600);
  assert.match(await readFile(tokenFile, 'utf8'), /^do_/);
  assert.ok(!r.stdout.includes((await readFile(tokenFile, 'utf8')).trim()), 'the token itself is not printed');
});

test('serve prints its URL and the operator commands work against it', async () => {
  ({ proc: server, url } = await startServe({ DATABASE_URL: database.url, DAMM_DATA_DIR: dataDir, DAMM_LOG_LEVEL: 'warn' }));
  assert.equal((await (await fetch(`${url}/healthz`)).json()).status, 'ok');

  const gw = JSON.parse((await damm(['gateway', 'add', '--region', 'NL', '--country', 'NL', '--json'])).stdout);
  assert.match(gw.registrationToken, /^dg_/);
  const reg = await fetch(`${url}/v1/gateways/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ registrationToken: gw.registrationToken, doors: [{ lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: wgKeyPair().publicKey, params: null, endpoints: [{ host: '192.0.2.1', port: 51820 }] }], egressIps: ['192.0.2.1'] }),
  });
  assert.equal(reg.status, 201);
  const gwList = (await damm(['gateway', 'list'])).stdout;
  assert.match(gwList, /NL\s+NL\s+true/);
  // Each door lane in words, with its health (none reported yet: this gateway never sent a heartbeat).
  assert.match(gwList, /T0 wireguard 192\.0\.2\.1:51820 not reported/);

  const inv = JSON.parse((await damm(['invite', 'issue', '--uses', '2', '--tier', 'standard', '--expires', '2d', '--json'])).stdout);
  assert.equal(inv.uses, 2);
  assert.match(inv.link, /\/get\/\?invite=dp_/);
  const pass = JSON.parse((await damm(['pass', 'issue', '--json'])).stdout);
  assert.equal(pass.kind, 'operator', 'an operator-issued pass is not a publicly minted one');
  assert.equal(inv.kind, 'invite');
  const listed = JSON.parse((await damm(['pass', 'list', '--json'])).stdout) as { passes: { id: string; kind: string }[] };
  assert.equal(listed.passes.find((p) => p.id === pass.id)?.kind, 'operator', 'and the list says so too');
  const enrolled = await fetch(`${url}/v1/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ installPass: pass.token, publicKey: wgKeyPair().publicKey }) });
  const dev = (await enrolled.json()) as { deviceId: string };
  assert.equal(enrolled.status, 201);

  const list = JSON.parse((await damm(['device', 'list', '--json'])).stdout);
  assert.equal(list.devices[0].id, dev.deviceId);
  assert.match((await damm(['device', 'suspend', dev.deviceId, '--reason', 'lost'])).stdout, /^suspended /);
  assert.match((await damm(['device', 'list', '--state', 'suspended', '--search', dev.deviceId.slice(0, 8)])).stdout, new RegExp(dev.deviceId));
  assert.match((await damm(['device', 'resume', dev.deviceId])).stdout, /^resumed /);
  assert.match((await damm(['device', 'revoke', dev.deviceId, '--reason', 'test'])).stdout, /revoked/);
  assert.match((await damm(['invite', 'revoke', inv.id])).stdout, new RegExp(`^revoked ${inv.id}`));
  assert.equal((JSON.parse((await damm(['pass', 'list', '--json'])).stdout) as { passes: { id: string; state: string }[] }).passes.find((p) => p.id === inv.id)?.state, 'revoked');
  assert.match((await damm(['device', 'list', '--state', 'revoked'])).stdout, new RegExp(dev.deviceId));
  assert.match((await damm(['gateway', 'drain', gw.gatewayId, '--reason', 'maintenance'])).stdout, /is drained: no new devices land there/);
  assert.match((await damm(['gateway', 'list'])).stdout, /NL\s+NL\s+true\s+true/, 'online and drained');
  assert.match((await damm(['gateway', 'undrain', gw.gatewayId])).stdout, /takes new devices again/);
  assert.match((await damm(['gateway', 'remove', gw.gatewayId])).stdout, /removed gateway .*; 0 active device\(s\)/);
  assert.doesNotMatch((await damm(['gateway', 'list'])).stdout, new RegExp(gw.gatewayId));
  const audit = (await damm(['audit', 'tail', '--limit', '50'])).stdout;
  for (const a of ['gateway.added', 'invite.issued', 'pass.minted', 'device.enrolled', 'device.suspended', 'device.resumed', 'device.revoked', 'invite.revoked', 'gateway.drained', 'gateway.undrained', 'gateway.removed']) assert.match(audit, new RegExp(a.replace('.', '\.')));
});

test('friendly errors and non-zero exits', async () => {
  const bad = await damm(['device', 'revoke', 'not-a-uuid'], { allowFail: true });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^damm: .*\[invalid_request\]/m);
  const unknown = await damm(['frobnicate'], { allowFail: true });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command/);
  const missing = await damm(['gateway', 'add', '--region', 'NL'], { allowFail: true });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--country/);
  const badInt = await damm(['invite', 'issue', '--uses', 'zero'], { allowFail: true });
  assert.notEqual(badInt.code, 0);
  const noToken = await runDamm(['device', 'list', '--url', url, '--token', 'do_wrongwrongwrongwrongwrongwrong'], {}, { allowFail: true });
  assert.equal(noToken.code, 1);
  assert.match(noToken.stderr, /\[unauthorized\]/);
});
