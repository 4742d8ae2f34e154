/**
 * The change feed on real Postgres: revisions appear in commit order with no
 * hole that fills later (slow transaction that began first, rollback,
 * concurrent writers against a polling reader), snapshot + resume without
 * duplicates, cursor expiry, NOTIFY across two control-plane instances,
 * gateway authentication, renewal.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { addGateway, drainFeed, enroll, gwCall, invite, snapshotOf, startFeedControlPlane, until, type FeedControlPlane, type TestGateway } from '../gateway/kit.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createPool } from '../../src/store/db.js';
import { insertFeedEvents, readFeed } from '../../src/store/feed.js';
import { admissionRecordFor, signRecord, trustedKeysFrom, verifyAdmission, verifyRevocation } from '../../src/core/admission.js';
import { parsePools } from '../../src/core/ipam.js';
import { ManualClock } from '../../src/core/clock.js';
import { generateSigningKey } from '../../src/core/envelope.js';

let cp: FeedControlPlane;
let gw: TestGateway;
let pass: string;
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function setup() {
  if (cp) return;
  cp = await startFeedControlPlane();
  cleanups.push(() => cp.stop());
  gw = await addGateway(cp);
  pass = await invite(cp, 10_000);
}

/** An event inserted the way a writer does, in a transaction the test controls. */
async function openWriter(url: string): Promise<{ client: pg.Client; deviceId: string }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  const deviceId = randomUUID();
  const env = signRecord(admissionRecordFor({ id: deviceId, publicKey: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=', ipv4: '10.66.200.1', ipv6: 'fd0d:a44d:66::c801', scope: 'region:NL' }, new Date()), [generateSigningKey()]);
  await insertFeedEvents(client, [{ scope: 'region:NL', deviceId, kind: 'upsert', envelope: env }]);
  return { client, deviceId };
}

test('an enrollment puts a signed admission record on the gateway feed that the gateway verifies', async () => {
  await setup();
  const { revision: start } = await drainFeed(cp, gw, 0);
  const dev = await enroll(cp.url, pass);
  const got = await until('event', async () => {
    const r = await drainFeed(cp, gw, start);
    return r.events.length ? r : undefined;
  });
  assert.equal(got.events.length, 1);
  const ev = got.events[0];
  assert.equal(ev.kind, 'upsert');
  assert.equal(ev.deviceId, dev.deviceId);
  assert.equal(ev.revision, got.revision);
  const trust = { scope: gw.scope, pools: parsePools({ ipv4Cidr: gw.tunnel.ipv4Cidr, ipv6Prefix: gw.tunnel.ipv6Prefix }), trustedKeys: trustedKeysFrom(gw.admissionKeys) };
  const v = verifyAdmission(ev.envelope, trust, new Date());
  assert.ok(v.ok, JSON.stringify(v));
  assert.equal(v.record.publicKey, dev.publicKey);
  assert.deepEqual(v.record.allowedIps, [`${dev.body.addresses.ipv4}/32`, `${dev.body.addresses.ipv6}/128`]);
  // Revocation: a signed removal follows.
  assert.equal((await cp.op('POST', `/v1/operator/devices/${dev.deviceId}/revoke`, { reason: 'test' })).status, 200);
  const rem = await until('removal', async () => {
    const r = await drainFeed(cp, gw, got.revision);
    return r.events.length ? r.events : undefined;
  });
  assert.equal(rem[0].kind, 'remove');
  assert.ok(verifyRevocation(rem[0].envelope, trust).ok);
});

test('slow transaction that began first: the fast one is delivered, the slow one follows with the next revision, nothing skipped', async () => {
  await setup();
  const { revision: start } = await drainFeed(cp, gw, 0);
  const slow = await openWriter(cp.database.url); // began first, holds its event uncommitted
  const fast = await enroll(cp.url, pass);
  const first = await until('fast event', async () => {
    const r = await drainFeed(cp, gw, start);
    return r.events.length ? r : undefined;
  });
  assert.deepEqual(first.events.map((e) => e.deviceId), [fast.deviceId], 'only the committed event is visible');
  assert.equal(first.events[0].revision, start + 1);
  // While the slow one is open, the cursor never passes a revision it could still take.
  const mid = await drainFeed(cp, gw, first.revision);
  assert.equal(mid.events.length, 0);
  await slow.client.query('COMMIT');
  await slow.client.end();
  cp.feed.kick();
  const second = await until('slow event', async () => {
    const r = await drainFeed(cp, gw, first.revision);
    return r.events.length ? r : undefined;
  });
  assert.deepEqual(second.events.map((e) => [e.deviceId, e.revision]), [[slow.deviceId, first.revision + 1]]);
});

test('a rolled-back transaction leaves no event and no hole', async () => {
  await setup();
  const { revision: start } = await drainFeed(cp, gw, 0);
  const rolled = await openWriter(cp.database.url);
  await rolled.client.query('ROLLBACK');
  await rolled.client.end();
  const dev = await enroll(cp.url, pass);
  const r = await until('event', async () => {
    const x = await drainFeed(cp, gw, start);
    return x.events.length ? x : undefined;
  });
  assert.deepEqual(r.events.map((e) => [e.deviceId, e.revision]), [[dev.deviceId, start + 1]]);
});

test('concurrent writers (some slow, some rolled back) against a polling reader: contiguous revisions, exactly the committed set', async () => {
  await setup();
  const { revision: start } = await drainFeed(cp, gw, 0);
  const seen: { revision: number; deviceId: string }[] = [];
  let cursor = start;
  let stop = false;
  const reader = (async () => {
    while (!stop) {
      const r = await readFeed(cp.ctx.db, 'region:NL', cursor, 1000);
      assert.equal(r.expired, false);
      if (r.expired) return;
      for (const e of r.events) {
        assert.equal(e.revision, (seen.at(-1)?.revision ?? start) + 1, 'revisions arrive contiguous: no hole that fills later');
        seen.push({ revision: e.revision, deviceId: e.deviceId });
      }
      cursor = r.revision;
      await new Promise((res) => setTimeout(res, 1));
    }
  })();
  const committed = new Set<string>();
  const writers = Array.from({ length: 60 }, async (_, i) => {
    const w = await openWriter(cp.database.url);
    await new Promise((res) => setTimeout(res, (i * 7) % 50)); // interleave commit order against begin order
    if (i % 5 === 0) {
      await w.client.query('ROLLBACK');
    } else {
      await w.client.query('COMMIT');
      committed.add(w.deviceId);
    }
    await w.client.end();
    cp.feed.kick();
  });
  const enrolled = Array.from({ length: 40 }, () => enroll(cp.url, pass).then((d) => committed.add(d.deviceId)));
  await Promise.all([...writers, ...enrolled]);
  await until('all events', async () => seen.length >= committed.size || undefined);
  stop = true;
  await reader;
  assert.equal(seen.length, committed.size, 'no extra events');
  assert.deepEqual(new Set(seen.map((e) => e.deviceId)), committed, 'exactly the committed set');
});

test('snapshot then resume from its revision: the current set, no duplicates', async () => {
  const cp = await startFeedControlPlane();
  cleanups.push(() => cp.stop());
  const gw = await addGateway(cp);
  const pass = await invite(cp, 100);
  const devs: Awaited<ReturnType<typeof enroll>>[] = [];
  for (let i = 0; i < 5; i++) devs.push(await enroll(cp.url, pass));
  await cp.op('POST', `/v1/operator/devices/${devs[0]!.deviceId}/revoke`, {});
  await until('sequenced', async () => (await drainFeed(cp, gw, 0)).events.some((e) => e.deviceId === devs[0]!.deviceId && e.kind === 'remove') || undefined);
  const snap = await snapshotOf(cp, gw);
  assert.equal(snap.contentType, 'application/x-ndjson');
  const ids = new Set(snap.records.map((r) => r.deviceId));
  assert.equal(ids.size, snap.records.length, 'one record per device');
  for (const d of devs.slice(1)) assert.ok(ids.has(d.deviceId));
  assert.ok(!ids.has(devs[0]!.deviceId), 'revoked device not in the snapshot');
  const active = await cp.ctx.db.query("SELECT id FROM devices WHERE state = 'active' AND scope = 'region:NL'");
  assert.deepEqual(ids, new Set(active.rows.map((r) => r.id)), 'snapshot = active devices');
  const later = [await enroll(cp.url, pass), await enroll(cp.url, pass)];
  const resumed = await until('resume', async () => {
    const r = await drainFeed(cp, gw, snap.revision);
    return r.events.length >= 2 ? r : undefined;
  });
  assert.deepEqual(resumed.events.map((e) => e.deviceId), later.map((d) => d.deviceId), 'exactly the later events, none already in the snapshot');
});

test('a cursor older than the retained feed gets 410 cursor_expired; a cursor from the future too', async () => {
  const clock = new ManualClock(new Date());
  const c = await startFeedControlPlane({ clock, feed: { feed: { retentionSeconds: 3600 } } });
  cleanups.push(() => c.stop());
  const g = await addGateway(c);
  const p = await invite(c, 10);
  const a = await enroll(c.url, p);
  await enroll(c.url, p);
  await c.op('POST', `/v1/operator/devices/${a.deviceId}/revoke`, {});
  const before = await until('3 events', async () => {
    const r = await drainFeed(c, g, 0);
    return r.events.length === 3 ? r : undefined;
  });
  await c.ctx.db.query("UPDATE feed_events SET created_at = created_at - interval '2 hours'");
  const removed = await c.feed.prune();
  assert.equal(removed, 2, "the revoked device's upsert and removal are compacted; the other device's record stays");
  const expired = await gwCall(c, g, 'GET', '/feed?after=0&wait=0');
  assert.equal(expired.status, 410);
  assert.equal(expired.body.error.code, 'cursor_expired');
  const future = await gwCall(c, g, 'GET', `/feed?after=${before.revision + 100}&wait=0`);
  assert.equal(future.status, 410);
  const snap = await snapshotOf(c, g);
  assert.equal(snap.records.length, 1);
  assert.equal(snap.revision, before.revision);
  const ok = await gwCall(c, g, 'GET', `/feed?after=${snap.revision}&wait=0`);
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body.events, []);
});

test('long polls in one process are woken by a commit in another (LISTEN/NOTIFY), each with its own pool', async () => {
  const database: TestDatabase = await createTestDatabase();
  cleanups.push(() => database.close());
  const a = await startFeedControlPlane({ database });
  cleanups.push(() => a.stop());
  const poolB = createPool(database.url, 8);
  const b = await startFeedControlPlane({ database: { ...database, db: poolB, close: () => poolB.end() } });
  cleanups.push(async () => {
    await b.stop();
    await poolB.end();
  });
  // Same admission keys in both processes, as with a shared data directory.
  assert.notEqual(a.ctx.db, b.ctx.db);
  const g = await addGateway(a);
  const p = await invite(a, 10);
  const { revision } = await drainFeed(a, g, 0);
  const t0 = Date.now();
  const poll = gwCall(a, g, 'GET', `/feed?after=${revision}&wait=20`);
  await new Promise((r) => setTimeout(r, 300)); // the poll is parked
  const dev = await enroll(b.url, p);
  const res = await poll;
  const waited = Date.now() - t0;
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.events.map((e: any) => e.deviceId), [dev.deviceId]);
  assert.ok(waited < 2500, `woken by NOTIFY in ${waited} ms (the fallback re-read is every 5 s)`);
});

test('every gateway call needs that gateway\'s own credential', async () => {
  await setup();
  const other = await addGateway(cp);
  for (const [method, path] of [['GET', '/feed?after=0&wait=0'], ['GET', '/snapshot'], ['POST', '/heartbeat']] as const) {
    const body = method === 'POST' ? { peers: [] } : undefined;
    const none = await cp.call(method, `/v1/gateways/${gw.gatewayId}${path}`, body);
    assert.equal(none.status, 401, `${path} without credential`);
    const wrong = await cp.call(method, `/v1/gateways/${gw.gatewayId}${path}`, body, { authorization: `Bearer ${other.credential}` });
    assert.equal(wrong.status, 403, `${path} with another gateway's credential`);
    const forged = await cp.call(method, `/v1/gateways/${gw.gatewayId}${path}`, body, { authorization: 'Bearer dgc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    assert.equal(forged.status, 401);
  }
});

test('renewal re-issues records nearing their end as new feed events', async () => {
  const clock = new ManualClock(new Date());
  const c = await startFeedControlPlane({ clock, feed: { admission: { validitySeconds: 3600, renewBeforeSeconds: 1200, renewIntervalMs: 3_600_000 } } });
  cleanups.push(() => c.stop());
  const g = await addGateway(c);
  const p = await invite(c, 10);
  const d1 = await enroll(c.url, p);
  const d2 = await enroll(c.url, p);
  await c.op('POST', `/v1/operator/devices/${d2.deviceId}/revoke`, {});
  const { revision } = await until('events', async () => {
    const r = await drainFeed(c, g, 0);
    return r.events.length === 3 ? r : undefined;
  });
  const issuer = c.admissions;
  assert.equal(await issuer.renewDue(), 0, 'nothing due yet');
  clock.advance(45 * 60);
  assert.equal(await issuer.renewDue(), 1, 'only the active device is renewed');
  const r = await until('renewal', async () => {
    const x = await drainFeed(c, g, revision);
    return x.events.length ? x : undefined;
  });
  assert.deepEqual(r.events.map((e) => [e.deviceId, e.kind]), [[d1.deviceId, 'upsert']]);
  const trust = { scope: g.scope, pools: c.ctx.pools, trustedKeys: trustedKeysFrom(g.admissionKeys) };
  clock.advance(30 * 60); // past the first record's end, inside the renewed one
  const v = verifyAdmission(r.events[0].envelope, trust, clock.now());
  assert.ok(v.ok, JSON.stringify(v));
  assert.equal(await issuer.renewDue(), 0);
});
