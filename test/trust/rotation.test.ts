/**
 * The root wired into the running service: init publishes root v1, the key
 * ring signs only with certified keys valid now, rotations are picked up
 * without a restart, overlap means both keys sign, revocation means only the
 * new one, root keys rotate with the old AND new threshold, and every
 * process serving one store converges without fighting over the catalog.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rename, rm, unlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { PAYLOAD_TYPES, signEnvelope, type Envelope } from '../../src/core/envelope.js';
import { utf8 } from '../../src/core/bytes.js';
import { TrustClient, TrustStateStore } from '../../src/client/trust-state.js';
import { trustRoot, verifyRootChain } from '../../src/core/trust/index.js';
import { verifyCatalog } from '../../src/core/catalog.js';
import { keysDir, readOnlineKeyFiles } from '../../src/control-plane/keyring.js';
import { initTrust } from '../../src/control-plane/trust/init.js';
import { generateRootKey, writeRootKeyFile } from '../../src/control-plane/trust/offline-keys.js';
import { listRoots } from '../../src/control-plane/trust/roots.js';
import { refreshRoot, retireOnlineKeys, rotateOnlineKey, rotateRootKeys } from '../../src/control-plane/trust/rotate.js';
import type { ReloadResult } from '../../src/control-plane/trust/keyring.js';
import { startTestControlPlane, registerTestGateway } from '../helpers/control-plane.js';
import { createTestDatabase } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';
import { httpTrustFetcher, moveRootToVault, payloadSha256 } from './helpers.js';

const DAY = 86400;

async function catalogOf(url: string): Promise<{ env: Envelope; version: number; signers: string[] }> {
  const env = (await (await fetch(`${url}/v1/catalog`)).json()) as Envelope;
  return { env, version: JSON.parse(Buffer.from(env.payload, 'base64').toString()).version, signers: env.signatures.map((s) => s.keyid) };
}

test('trust routes serve every published root version byte for byte, and 404 past the end', async (t) => {
  const cp = await startTestControlPlane();
  t.after(() => cp.stop());
  const vault = await moveRootToVault(cp);
  t.after(() => rm(vault.dir, { recursive: true, force: true }));
  const index = await cp.call('GET', '/v1/trust');
  assert.equal(index.status, 200);
  assert.equal(index.body.latestVersion, 1);
  assert.equal(index.body.rootV1Sha256, payloadSha256(vault.rootV1));
  const v1 = await fetch(`${cp.url}/v1/trust/root/1.json`);
  assert.equal(v1.status, 200);
  assert.match(v1.headers.get('content-type') ?? '', /application\/json/);
  assert.deepEqual(await v1.json(), vault.rootV1);
  assert.equal((await cp.call('GET', '/v1/trust/root/2.json')).status, 404);
  assert.equal((await cp.call('GET', '/v1/trust/root/abc.json')).status, 400);
  assert.equal((await cp.call('GET', '/v1/trust/root/0.json')).status, 400);

  await refreshRoot({ db: cp.ctx.db, dataDir: cp.dataDir, now: new Date(), rootKeys: vault.keys });
  const latest = await fetch(`${cp.url}/v1/trust/root.json`);
  assert.equal(latest.headers.get('x-damm-root-version'), '2');
  const chain = verifyRootChain(trustRoot(vault.rootV1, { pinnedSha256: payloadSha256(vault.rootV1) }), [await latest.json()], new Date());
  assert.equal(chain.root.version, 2);
  // /v1/keys still works (other code uses it) and lists the certified keys valid now.
  const keys = await cp.call('GET', '/v1/keys');
  assert.equal(keys.status, 200);
  assert.equal(keys.body.catalog.length, 1);
  assert.equal(keys.body.admission.length, 1);
});

test('rotation with overlap: the running service picks up root N+1, signs with both keys, then with the new one alone', async (t) => {
  const clock = new ManualClock(new Date());
  const cp = await startTestControlPlane({ clock, trustReloadMs: 3_600_000 });
  t.after(() => cp.stop());
  await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey });
  const vault = await moveRootToVault(cp);
  t.after(() => rm(vault.dir, { recursive: true, force: true }));
  const stateDir = await mkdtemp(path.join(tmpdir(), 'damm-client-'));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const client = new TrustClient({ store: new TrustStateStore(stateDir), fetcher: httpTrustFetcher(() => cp.url), bootstrapRoot: vault.rootV1, bootstrapSha256: payloadSha256(vault.rootV1), clock: () => clock.now() });
  const first = await client.refresh();
  const root1 = await client.currentRoot();
  const oldKey = first.signers[0]!;

  const r = await rotateOnlineKey({ db: cp.ctx.db, dataDir: cp.dataDir, now: clock.now(), role: 'catalog', rootKeys: vault.keys, mode: 'overlap', overlapSeconds: 7 * DAY });
  assert.equal(r.root.version, 2);
  assert.deepEqual(r.shortened.map((s) => s.keyid), [oldKey]);
  const tick = await cp.refreshTrust();
  assert.deepEqual(tick, { reloaded: true, rootVersion: 2, catalogResigned: true });
  assert.deepEqual(cp.ctx.keys.signers('catalog').map((k) => k.keyid).sort(), [oldKey, r.newKey!.keyid].sort());
  const during = await catalogOf(cp.url);
  assert.ok(during.version > first.version, 'a new catalog version right after the rotation');
  assert.deepEqual(during.signers.sort(), [oldKey, r.newKey!.keyid].sort());
  // A client that has not updated its root yet still accepts it (the old key signed too)...
  verifyCatalog(during.env, root1, { now: clock.now() });
  // ...and the client that walks the roots accepts it under root v2.
  const second = await client.refresh();
  assert.equal((await client.currentRoot()).version, 2);
  assert.equal(second.version, during.version);

  // After the overlap the old key stops signing; the next catalog carries the new key only.
  clock.advance(8 * DAY);
  assert.deepEqual(cp.ctx.keys.signers('catalog').map((k) => k.keyid), [r.newKey!.keyid]);
  const later = await catalogOf(cp.url); // past half its lifetime: re-signed
  assert.ok(later.version > during.version);
  assert.deepEqual(later.signers, [r.newKey!.keyid]);
  const third = await client.refresh();
  assert.equal(third.version, later.version);
  // A catalog signed by the old key alone is refused after its overlap ended (key window, not document date).
  const oldSigner = (await readOnlineKeyFiles(cp.dataDir)).find((f) => f.key.keyid === oldKey)!.key;
  const replay = signEnvelope(PAYLOAD_TYPES.catalog, utf8.encode(JSON.stringify({ version: later.version + 1, issuedAt: clock.now().toISOString(), expiresAt: new Date(clock.now().getTime() + DAY * 1000).toISOString(), frontDoors: [] })), [oldSigner]);
  assert.throws(() => verifyCatalog(replay, r.root, { now: clock.now() }), (e: Error & { details?: { reason?: string } }) => e.details?.reason === 'key_outside_validity_window');

  // retire: the expired old key leaves the root, and its file is deleted.
  const retired = await retireOnlineKeys({ db: cp.ctx.db, dataDir: cp.dataDir, now: clock.now(), role: 'catalog', rootKeys: vault.keys });
  assert.deepEqual(retired.dropped.map((d) => [d.keyid, d.reason]), [[oldKey, 'expired']]);
  assert.equal(retired.removedKeyFiles.length, 1);
  assert.ok(!(await readdir(keysDir(cp.dataDir))).some((f) => f.includes(oldKey.slice(0, 16))));
  await cp.refreshTrust();
  const fourth = await client.refresh();
  assert.equal((await client.currentRoot()).version, 3);
  assert.deepEqual(fourth.signers, [r.newKey!.keyid]);
});

test('a leaked admission key is revoked at once; the service stops signing with it without a restart', async (t) => {
  const cp = await startTestControlPlane({ trustReloadMs: 100 });
  t.after(() => cp.stop());
  const vault = await moveRootToVault(cp);
  t.after(() => rm(vault.dir, { recursive: true, force: true }));
  const leaked = cp.ctx.keys.signers('admission')[0]!.keyid;
  const changes: ReloadResult[] = [];
  cp.trust!.onChange((c) => void changes.push(c));
  const r = await rotateOnlineKey({ db: cp.ctx.db, dataDir: cp.dataDir, now: new Date(), role: 'admission', rootKeys: vault.keys, mode: 'revoke-old' });
  assert.deepEqual(r.dropped.map((d) => [d.keyid, d.reason]), [[leaked, 'revoked']]);
  assert.equal(r.shortened.length, 0);
  assert.equal(r.removedKeyFiles.length, 1, 'the leaked key file is deleted');
  // Picked up by the timer (every 100 ms here), no restart.
  const deadline = Date.now() + 5000;
  while (changes.length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  assert.deepEqual(cp.ctx.keys.signers('admission').map((k) => k.keyid), [r.newKey!.keyid]);
  // Listeners (e.g. the admission feed) learn which signing keys were dropped, to re-issue records at once.
  assert.deepEqual(changes.map((c) => [c.version, c.rotatedRoles, c.droppedSigners]), [[2, ['admission'], [{ role: 'admission', keyid: leaked }]]]);
  const keys = await cp.call('GET', '/v1/keys');
  assert.deepEqual(keys.body.admission.map((k: { keyid: string }) => k.keyid), [r.newKey!.keyid]);
});

test('rotation errors say what to do, and change nothing', async (t) => {
  const cp = await startTestControlPlane();
  t.after(() => cp.stop());
  const vault = await moveRootToVault(cp);
  t.after(() => rm(vault.dir, { recursive: true, force: true }));
  const base = { db: cp.ctx.db, dataDir: cp.dataDir, now: new Date(), role: 'catalog' as const };
  await assert.rejects(rotateOnlineKey({ ...base, rootKeys: [], mode: 'overlap' }), /needs 1 root key/);
  await assert.rejects(rotateOnlineKey({ ...base, rootKeys: [generateRootKey()], mode: 'overlap' }), /is not a root key of root v1/);
  await assert.rejects(rotateOnlineKey({ ...base, rootKeys: vault.keys, mode: 'replace-lost' }), /No catalog key is lost/);
  await assert.rejects(retireOnlineKeys({ ...base, rootKeys: vault.keys }), /Nothing to retire/);
  // A key file missing without --replace-lost / --revoke-old is refused (wrong --data-dir?).
  const cat = (await readOnlineKeyFiles(cp.dataDir)).find((f) => f.role === 'catalog')!;
  await unlink(path.join(keysDir(cp.dataDir), cat.name));
  await assert.rejects(rotateOnlineKey({ ...base, rootKeys: vault.keys, mode: 'overlap' }), /has no key file .* --replace-lost/s);
  assert.equal((await listRoots(cp.ctx.db)).length, 1, 'nothing was published');
  assert.equal((await readOnlineKeyFiles(cp.dataDir)).filter((f) => f.role === 'catalog').length, 0, 'no stray key file was left');
});

test('root rotation: root N+1 carries the old threshold AND the new; afterwards only the new root keys can sign', async (t) => {
  const cp = await startTestControlPlane();
  t.after(() => cp.stop());
  const vault = await moveRootToVault(cp);
  t.after(() => rm(vault.dir, { recursive: true, force: true }));
  const stateDir = await mkdtemp(path.join(tmpdir(), 'damm-client-'));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const client = new TrustClient({ store: new TrustStateStore(stateDir), fetcher: httpTrustFetcher(() => cp.url), bootstrapRoot: vault.rootV1 });
  await client.refresh();

  const fresh = [generateRootKey(), generateRootKey(), generateRootKey()];
  const rr = await rotateRootKeys({ db: cp.ctx.db, dataDir: cp.dataDir, now: new Date(), rootKeys: vault.keys, newRootKeys: fresh, threshold: 2 });
  assert.equal(rr.root.document.roles.root.threshold, 2);
  assert.equal(rr.envelope.signatures.length, 4, 'one old + three new signatures');
  await client.refresh();
  assert.equal((await client.currentRoot()).version, 2);

  // The old root key no longer signs anything; one new key is below the threshold; two are enough.
  const base = { db: cp.ctx.db, dataDir: cp.dataDir, now: new Date(), role: 'catalog' as const, mode: 'overlap' as const };
  await assert.rejects(rotateOnlineKey({ ...base, rootKeys: vault.keys }), /is not a root key of root v2/);
  await assert.rejects(rotateOnlineKey({ ...base, rootKeys: [fresh[0]!] }), /needs 2 root key/);
  const ok = await rotateOnlineKey({ ...base, rootKeys: [fresh[0]!, fresh[2]!] });
  assert.equal(ok.root.version, 3);
  await cp.refreshTrust();
  const c = await client.refresh();
  assert.equal((await client.currentRoot()).version, 3);
  assert.ok(c.signers.includes(ok.newKey!.keyid));
});

test('the key ring refuses to start without a certified key, and two processes on one store converge', async (t) => {
  const database = await createTestDatabase();
  t.after(() => database.close());
  const a = await startTestControlPlane({ database, trustReloadMs: 3_600_000 });
  t.after(() => a.stop());
  const b = await startTestControlPlane({ database, trustReloadMs: 3_600_000 });
  t.after(() => b.stop());
  await registerTestGateway(a, { publicKey: wgKeyPair().publicKey });
  const vault = await moveRootToVault(a);
  t.after(() => rm(vault.dir, { recursive: true, force: true }));
  await a.call('GET', '/v1/catalog');

  // Rotate on host a; host b gets the new key file the way an operator would copy it.
  const r = await rotateOnlineKey({ db: a.ctx.db, dataDir: a.dataDir, now: new Date(), role: 'catalog', rootKeys: vault.keys, mode: 'overlap' });
  const newFile = path.basename(r.newKey!.file);
  // b reloads first, without the new key: it must not fight a catalog that carries more signatures than it can make.
  assert.equal((await b.refreshTrust())!.reloaded, true);
  await a.refreshTrust();
  const v = (await catalogOf(a.url)).version;
  assert.equal((await b.refreshTrust())!.catalogResigned, false);
  assert.equal((await a.refreshTrust())!.catalogResigned, false);
  assert.equal((await catalogOf(b.url)).version, v, 'no ping-pong between processes');
  await mkdir(keysDir(b.dataDir), { recursive: true });
  await writeFile(path.join(keysDir(b.dataDir), newFile), await readFile(r.newKey!.file), { mode: 0o600 });
  assert.equal(b.trust!.signers('catalog').length, 1, 'b has not re-read its key files yet');
  await b.trust!.reload({ force: true });
  assert.equal(b.trust!.signers('catalog').length, 2);

  // A data directory without any certified key: refused, with the way out in the message.
  const empty = await mkdtemp(path.join(tmpdir(), 'damm-empty-'));
  t.after(() => rm(empty, { recursive: true, force: true }));
  await assert.rejects(startTestControlPlane({ database, dataDir: empty }), /No catalog key in .* is certified by root v2 .*--replace-lost/s);
});

test('init: idempotent, republishes its own root v1 after a crash, never makes a second v1 over existing root keys', async (t) => {
  const database = await createTestDatabase();
  t.after(() => database.close());
  const dir = await mkdtemp(path.join(tmpdir(), 'damm-init-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  const first = await initTrust({ db: database.db, dataDir: dir, now: new Date(), rootKeys: 3, rootThreshold: 2, say: (l) => lines.push(l) });
  assert.equal(first.created, true);
  assert.equal(first.rootKeyFiles.length, 3);
  assert.ok(lines.some((l) => /MOVE THEM OFF THIS MACHINE/.test(l)));
  assert.ok(lines.some((l) => l.includes(first.pinSha256)));
  assert.equal(first.root.document.roles.root.threshold, 2);
  const again = await initTrust({ db: database.db, dataDir: dir, now: new Date() });
  assert.equal(again.created, false);
  assert.equal(again.pinSha256, first.pinSha256);

  // Crash between writing offline-root/ and publishing: the same root v1 is published on the next run.
  await database.db.query('DELETE FROM trust_roots');
  const redo = await initTrust({ db: database.db, dataDir: dir, now: new Date() });
  assert.equal(redo.pinSha256, first.pinSha256);

  // Re-root (all root keys lost, docs/runbooks.md): offline-root moved away, chain forgotten, init again.
  await rename(path.join(dir, 'offline-root'), path.join(dir, 'offline-root.old'));
  await database.db.query('DELETE FROM trust_roots');
  const reroot = await initTrust({ db: database.db, dataDir: dir, now: new Date() });
  assert.equal(reroot.created, true);
  assert.notEqual(reroot.pinSha256, first.pinSha256);
  assert.deepEqual(Object.keys(reroot.root.document.keys).filter((k) => !reroot.root.document.roles.root.keyids.includes(k)).sort(), Object.keys(first.root.document.keys).filter((k) => !first.root.document.roles.root.keyids.includes(k)).sort(), 'the same online keys');

  // Root keys but no root-1.json and no published root: refuse rather than invent a second root.
  const dir2 = await mkdtemp(path.join(tmpdir(), 'damm-init-'));
  t.after(() => rm(dir2, { recursive: true, force: true }));
  await writeRootKeyFile(path.join(dir2, 'offline-root'), generateRootKey(), new Date());
  await database.db.query('DELETE FROM trust_roots');
  await assert.rejects(initTrust({ db: database.db, dataDir: dir2, now: new Date() }), /already holds root keys/);
  const dir3 = await mkdtemp(path.join(tmpdir(), 'damm-init-'));
  t.after(() => rm(dir3, { recursive: true, force: true }));
  await assert.rejects(initTrust({ db: database.db, dataDir: dir3, now: new Date(), rootKeys: 2, rootThreshold: 3 }), /--root-threshold must be a whole number from 1 to 2/);
});
