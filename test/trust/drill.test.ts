/**
 * The recovery drill (issue 6): a control plane with a gateway and enrolled
 * devices; a client that pinned root v1 and cached the catalog; an encrypted
 * backup. Then disaster: the online catalog key file and the database are
 * gone. Restore the backup onto a fresh data directory and a fresh database,
 * replace the lost catalog key with the offline root key, and check that the
 * cached client accepts the new catalog, the gateway's admission records
 * verify against the root, and every device is still there, unchanged,
 * with nothing re-enrolled. Real Postgres, real HTTP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateBackupIdentity } from '../../src/backup/identity.js';
import { createBackup } from '../../src/backup/backup.js';
import { restoreBackup } from '../../src/backup/restore.js';
import { TrustClient, TrustStateStore } from '../../src/client/trust-state.js';
import { admissionTrustFrom, signRecord, verifyAdmission, type AdmissionRecord } from '../../src/core/admission.js';
import type { VerifiedRoot } from '../../src/core/trust/index.js';
import { keysDir, readOnlineKeyFiles } from '../../src/control-plane/keyring.js';
import { rotateOnlineKey } from '../../src/control-plane/trust/rotate.js';
import { startTestControlPlane, registerTestGateway, type TestControlPlane } from '../helpers/control-plane.js';
import { createTestDatabase } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';
import { snapshotOf } from '../gateway/kit.js';
import { enrollDevices, httpTrustFetcher, moveRootToVault, payloadSha256 } from './helpers.js';

const bare = (ip: string) => ip.replace(/\/\d+$/, '');

/** What a gateway pinned to `root` runs on a record (core's one admission verifier); throws with its refusal. */
function gatewayVerifies(cp: TestControlPlane, root: VerifiedRoot, scope: string, envelope: unknown, now = new Date()): AdmissionRecord {
  const v = verifyAdmission(envelope, { scope, pools: cp.ctx.pools, ...admissionTrustFrom(root, now) }, now);
  assert.ok(v.ok, v.ok ? '' : `${v.reason}: ${v.message}`);
  return v.record;
}

test('drill: lose the catalog key and the database, restore the encrypted backup, rotate with the root key; nobody re-enrolls', async (t) => {
  const cleanup: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  // --- Before: a running service --------------------------------------------------------
  const db1 = await createTestDatabase();
  cleanup.push(() => db1.close());
  let cp: TestControlPlane = await startTestControlPlane({ database: db1, config: { mintLimitPerHour: 1000 } });
  cleanup.push(() => cp.stop());
  const gwKey = wgKeyPair();
  const gw = await registerTestGateway(cp, { publicKey: gwKey.publicKey });
  const devices = await enrollDevices(cp, 5);
  const vault = await moveRootToVault(cp); // the operator took the offline root away after init
  cleanup.push(() => rm(vault.dir, { recursive: true, force: true }));
  const pin = payloadSha256(vault.rootV1); // what `damm init` printed

  // A client (CLI / gateway style) pins root v1 and caches the catalog.
  const stateDir = await mkdtemp(path.join(tmpdir(), 'damm-client-'));
  cleanup.push(() => rm(stateDir, { recursive: true, force: true }));
  let baseUrl = cp.url;
  const client = new TrustClient({ store: new TrustStateStore(stateDir), fetcher: httpTrustFetcher(() => baseUrl), bootstrapRoot: vault.rootV1, bootstrapSha256: pin });
  const before = await client.refresh();
  assert.equal(before.catalog.frontDoors.length, 1);
  assert.equal((await client.currentRoot()).version, 1);

  // The gateway's admission records verify against the root.
  const snapshot = async (c: TestControlPlane) => {
    const r = await snapshotOf(c, gw);
    return r.records as { deviceId: string; envelope: unknown }[];
  };
  const root1 = await client.currentRoot();
  const records1 = await snapshot(cp);
  assert.equal(records1.length, devices.length);
  for (const rec of records1) gatewayVerifies(cp, root1, gw.scope, rec.envelope);

  // Secrets that must never appear in the backup file in plaintext.
  const keyFiles = await readOnlineKeyFiles(cp.dataDir);
  const catalogKeyId = keyFiles.find((f) => f.role === 'catalog')!.key.keyid;
  const secrets = [
    ...keyFiles.map((f) => Buffer.from(f.key.privateKey).toString('base64')),
    ...keyFiles.map((f) => Buffer.from(f.key.privateKey).toString('hex')),
    cp.operatorToken,
    ...devices.map((d) => d.publicKey),
    ...devices.map((d) => d.deviceId),
    gw.gatewayId,
    'DAMM-BACKUP',
    'trust_roots',
  ];

  // --- Backup (encrypted, to the operator's age recipient) --------------------------------
  const id = await generateBackupIdentity();
  const archive = path.join(vault.dir, 'damm-backup.age');
  const lines: string[] = [];
  const res = await createBackup({ db: cp.ctx.db, dataDir: cp.dataDir, recipients: [id.recipient], out: archive, progress: (l) => lines.push(l) });
  assert.ok(res);
  assert.ok(lines.some((l) => /table devices: 5 rows/.test(l)), lines.join('\n'));
  assert.equal((await stat(archive)).mode & 0o777, 0o600);
  const bytes = await readFile(archive);
  assert.ok(bytes.subarray(0, 30).toString('latin1').startsWith('age-encryption.org/v1'), 'an age file');
  for (const s of secrets) assert.equal(bytes.indexOf(Buffer.from(s)), -1, `backup leaks ${s.slice(0, 12)}… in plaintext`);
  assert.deepEqual((await readdir(vault.dir)).filter((f) => f.includes('.tmp-')), [], 'no temp file left');

  // --- Disaster: the catalog key file and the database are gone ---------------------------
  await unlink(path.join(keysDir(cp.dataDir), `catalog-${catalogKeyId.slice(0, 16)}.key`));
  await cp.stop();
  await db1.close(); // DROP DATABASE

  // --- Restore onto a fresh data directory and a fresh, empty database --------------------
  const db2 = await createTestDatabase();
  cleanup.push(() => db2.close());
  await db2.db.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public'); // not even migrated
  const dataDir2 = await mkdtemp(path.join(tmpdir(), 'damm-restored-'));
  cleanup.push(() => rm(dataDir2, { recursive: true, force: true }));
  const restored = await restoreBackup({ db: db2.db, dataDir: dataDir2, identities: [id.identity], input: archive });
  assert.equal(restored.restored, true);
  for (const f of restored.files) assert.equal((await stat(f)).mode & 0o777, 0o600, f);
  assert.equal((await stat(keysDir(dataDir2))).mode & 0o777, 0o700);

  // The catalog key is lost for good (the backup's copy sat on the lost disk too): without a
  // certified catalog key the control plane refuses to start, and says what to do.
  await unlink(path.join(keysDir(dataDir2), `catalog-${catalogKeyId.slice(0, 16)}.key`));
  await assert.rejects(startTestControlPlane({ database: db2, dataDir: dataDir2 }), (err: Error) => /No catalog key .* --replace-lost/s.test(err.message));

  // --- Rotate the lost key with the offline root key ----------------------------------------
  const rotation = await rotateOnlineKey({ db: db2.db, dataDir: dataDir2, now: new Date(), role: 'catalog', rootKeys: vault.keys, mode: 'replace-lost' });
  assert.equal(rotation.root.version, 2);
  assert.deepEqual(rotation.dropped.map((d) => [d.keyid, d.reason]), [[catalogKeyId, 'lost']]);

  cp = await startTestControlPlane({ database: db2, dataDir: dataDir2, config: { mintLimitPerHour: 1000 } });
  cleanup.push(() => cp.stop());
  baseUrl = cp.url;
  await cp.refreshTrust();
  // The gateway is the same one (credential restored as a hash), still online after a heartbeat.
  const hb = await cp.call('POST', `/v1/gateways/${gw.gatewayId}/heartbeat`, { peers: [] }, { authorization: `Bearer ${gw.credential}` });
  assert.equal(hb.status, 200, JSON.stringify(hb.body));

  // The client still holding root v1 walks to v2 and accepts the catalog signed by the new key.
  const after = await client.refresh();
  const root2 = await client.currentRoot();
  assert.equal(root2.version, 2);
  assert.ok(after.version > before.version, `catalog version moved forward (${before.version} -> ${after.version})`);
  assert.deepEqual(after.signers, [rotation.newKey!.keyid]);
  assert.equal(after.catalog.frontDoors.length, 1);
  assert.equal(after.catalog.frontDoors[0]!.publicKey, gwKey.publicKey);

  // Admission records: the restored ones and freshly signed ones verify against the new root for the gateway's scope.
  const records2 = await snapshot(cp);
  assert.deepEqual(records2.map((r) => r.deviceId).sort(), devices.map((d) => d.deviceId).sort());
  for (const rec of records2) gatewayVerifies(cp, root2, gw.scope, rec.envelope);
  const now = new Date();
  const d0 = devices[0]!;
  const record: AdmissionRecord = {
    kind: 'admission',
    deviceId: d0.deviceId,
    publicKey: d0.publicKey,
    allowedIps: [`${bare(d0.ipv4)}/32`, `${bare(d0.ipv6)}/128`],
    scope: gw.scope,
    notBefore: now.toISOString(),
    notAfter: new Date(now.getTime() + 3600_000).toISOString(),
  };
  const fresh = signRecord(record, cp.ctx.keys.signers('admission'));
  assert.equal(gatewayVerifies(cp, root2, gw.scope, fresh, now).deviceId, d0.deviceId);

  // Every device is still there, same id, key and addresses; nothing was re-enrolled.
  const list = await cp.op('GET', '/v1/operator/devices?limit=100');
  assert.equal(list.status, 200);
  const byId = new Map((list.body.devices as { id: string; publicKey: string; ipv4: string; ipv6: string; state: string }[]).map((d) => [d.id, d]));
  assert.equal(byId.size, devices.length);
  for (const d of devices) {
    const got = byId.get(d.deviceId);
    assert.ok(got, `device ${d.deviceId} restored`);
    assert.equal(got.publicKey, d.publicKey);
    assert.equal(bare(got.ipv4), bare(d.ipv4));
    assert.equal(bare(got.ipv6), bare(d.ipv6));
    assert.equal(got.state, 'active');
  }
  const audit = await db2.db.query<{ n: string }>("SELECT count(*) AS n FROM audit_log WHERE action = 'device.enrolled'");
  assert.equal(Number(audit.rows[0]!.n), devices.length, 'no enrollment happened after the restore');

  // Sequences were set past the restored rows: a new device gets a new, unused address.
  const [extra] = await enrollDevices(cp, 1);
  assert.ok(!devices.some((d) => bare(d.ipv4) === bare(extra!.ipv4)), 'no address reused');
});
