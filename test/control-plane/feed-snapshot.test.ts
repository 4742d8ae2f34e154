/**
 * The gateway snapshot as a stream (GET /v1/gateways/{id}/snapshot, NDJSON):
 * served from a cursor at one revision and read by the agent's own client
 * (HttpControlPlaneApi → src/client/snapshot-stream.ts) a batch at a time.
 *
 * - consistent: events sequenced while a large snapshot is being read are
 *   not in it, and its trailer names the revision of its first line;
 * - a stream cut off (or whose trailer does not add up) is refused by the
 *   reader: its iteration throws instead of ending;
 * - the store failing mid-stream: the reader gets an error, the control
 *   plane stays up, gives the connection back and serves the next snapshot.
 *
 * The large scope is written straight into feed_events (one real signed
 * envelope repeated): the route streams stored text and never parses it, and
 * what matters here is a body far larger than the socket buffers, so the
 * server is really mid-stream when something happens.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { addGateway, enroll, invite, snapshotOf, startFeedControlPlane, until, type FeedControlPlane, type TestGateway } from '../gateway/kit.js';
import { HttpControlPlaneApi, Unreachable } from '../../src/gateway/agent/api.js';
import { DammError } from '../../src/core/errors.js';
import { admissionRecordFor, signRecord } from '../../src/core/admission.js';
import { generateSigningKey } from '../../src/core/envelope.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

const BULK = 30_000;

function apiFor(url: string, gw: { gatewayId: string; credential: string }): HttpControlPlaneApi {
  const api = new HttpControlPlaneApi(url, 5000);
  api.gatewayId = gw.gatewayId;
  api.credential = gw.credential;
  cleanups.push(async () => api.close());
  return api;
}

/** BULK sequenced upserts for the gateway's scope (~0.6 KB each), after whatever the feed holds. */
async function bulkScope(cp: FeedControlPlane, gw: TestGateway): Promise<void> {
  const envelope = signRecord(
    admissionRecordFor({ id: '00000000-0000-4000-8000-000000000000', publicKey: 'A'.repeat(43) + '=', ipv4: '10.0.0.2', ipv6: 'fd00::2', scope: gw.scope }, new Date()),
    [generateSigningKey()],
  );
  await cp.ctx.db.query(
    `WITH st AS (SELECT head FROM feed_state WHERE id = 1),
     ins AS (INSERT INTO feed_events (revision, scope, device_id, kind, envelope)
             SELECT st.head + g, $1, gen_random_uuid(), 'upsert', $2::jsonb FROM st, generate_series(1, $3) g)
     UPDATE feed_state SET head = head + $3 WHERE id = 1`,
    [gw.scope, JSON.stringify(envelope), BULK],
  );
}

async function head(cp: FeedControlPlane): Promise<number> {
  return Number((await cp.ctx.db.query('SELECT head FROM feed_state WHERE id = 1')).rows[0].head);
}

test('a large snapshot streams at one revision: events sequenced while it is read are not in it', async () => {
  const cp = await startFeedControlPlane();
  cleanups.push(() => cp.stop());
  const gw = await addGateway(cp);
  const pass = await invite(cp, 5);
  const before = await enroll(cp.url, pass);
  await until('sequenced', async () => (await head(cp)) > 0 || undefined);
  await bulkScope(cp, gw);
  const at = await head(cp);

  const snap = await apiFor(cp.url, gw).snapshot();
  assert.equal(snap.revision, at, 'the first line names the head when the stream opened');
  const it = snap.batches[Symbol.asyncIterator]();
  const first = await it.next();
  assert.ok(!first.done && first.value.length > 0);
  // While the rest is still on its way: a new enrollment is committed and sequenced.
  const later = await enroll(cp.url, pass);
  await until('the new event sequenced', async () => (await head(cp)) > at || undefined);
  const ids = new Set(first.done ? [] : first.value.map((r) => r.deviceId));
  let maxRevision = 0;
  for (let r = await it.next(); !r.done; r = await it.next()) {
    for (const rec of r.value) {
      ids.add(rec.deviceId);
      maxRevision = Math.max(maxRevision, rec.revision);
    }
  }
  assert.equal(ids.size, BULK + 1, 'every record of the scope at the revision, once each');
  assert.ok(ids.has(before.deviceId));
  assert.ok(!ids.has(later.deviceId), 'an event sequenced after the stream opened is not in it');
  assert.ok(maxRevision <= at);

  // The next snapshot has it; the served form is NDJSON.
  const again = await snapshotOf(cp, gw);
  assert.equal(again.contentType, 'application/x-ndjson');
  assert.ok(again.records.some((r) => r.deviceId === later.deviceId));
  assert.ok(again.revision > at);
});

/** A one-route server playing a control plane that sends `lines` and then ends the answer as told. */
async function fakeSnapshotServer(lines: string[], end: 'cut' | 'clean'): Promise<string> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write(lines.map((l) => `${l}\n`).join(''));
    // 'cut': the connection drops mid-answer (no final chunk), as when the control plane fails mid-stream.
    if (end === 'cut') setImmediate(() => res.socket?.destroy());
    else res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function drain(url: string): Promise<number> {
  const snap = await apiFor(url, { gatewayId: '8a0e4f2e-0000-4000-8000-000000000001', credential: 'dgc_test' }).snapshot();
  let n = 0;
  for await (const b of snap.batches) n += b.length;
  return n;
}

test('a snapshot cut off, without its trailer, or whose trailer does not add up is refused, never taken as complete', async () => {
  const env = JSON.stringify({ payloadType: 'application/vnd.damm.admission+json', payload: 'e30=', signatures: [{ keyid: 'k', sig: 's' }] });
  const rec = (i: number) => `{"revision":${i},"deviceId":"00000000-0000-4000-8000-${String(i).padStart(12, '0')}","envelope":${env}}`;
  const records = [rec(1), rec(2), rec(3)];
  const whole = ['{"revision":3}', ...records, '{"complete":true,"revision":3,"count":3}'];
  // The control: the whole stream is taken.
  assert.equal(await drain(await fakeSnapshotServer(whole, 'clean')), 3);

  // The connection dropped mid-stream (the HTTP answer never ends).
  await assert.rejects(drain(await fakeSnapshotServer(whole.slice(0, 3), 'cut')), (e) => e instanceof Unreachable && /cut off/.test(e.message));
  // The HTTP answer ended cleanly but the trailer is missing (a proxy that cut it): still refused.
  await assert.rejects(drain(await fakeSnapshotServer(whole.slice(0, 4), 'clean')), (e) => e instanceof Unreachable && /no trailer/.test(e.message));
  // A trailer that does not add up: fewer records came than it says, or another revision.
  await assert.rejects(drain(await fakeSnapshotServer(['{"revision":3}', rec(1), rec(2), '{"complete":true,"revision":3,"count":3}'], 'clean')), (e) => e instanceof DammError && /trailer says 3 records/.test(e.message));
  await assert.rejects(drain(await fakeSnapshotServer(['{"revision":3}', ...records, '{"complete":true,"revision":4,"count":3}'], 'clean')), (e) => e instanceof DammError && /refusing it/.test(e.message));
  // Anything after the trailer, a record beyond the snapshot's revision, or no header first.
  await assert.rejects(drain(await fakeSnapshotServer([...whole, rec(4)], 'clean')), /after its trailer/);
  await assert.rejects(drain(await fakeSnapshotServer(['{"revision":2}', ...records, '{"complete":true,"revision":2,"count":3}'], 'clean')), /after the snapshot's 2/);
  await assert.rejects(drain(await fakeSnapshotServer(records, 'clean')), /header line/);
});

test('the store failing mid-stream: the reader gets an error, the control plane stays up and serves the next snapshot whole', async () => {
  const cp = await startFeedControlPlane();
  cleanups.push(() => cp.stop());
  const gw = await addGateway(cp);
  await bulkScope(cp, gw);
  const admin = new pg.Client({ connectionString: cp.database.url });
  await admin.connect();
  cleanups.push(() => admin.end());

  const snap = await apiFor(cp.url, gw).snapshot();
  const it = snap.batches[Symbol.asyncIterator]();
  const first = await it.next();
  assert.ok(!first.done && first.value.length > 0);
  // The reader stops pulling; the server is parked on backpressure with most of the scope unsent. Its database session dies.
  const killed = await until('the snapshot cursor session', async () => {
    const r = await admin.query(
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'FETCH % FROM damm_snapshot'",
    );
    return r.rows.some((x) => x.ok) || undefined;
  });
  assert.ok(killed);
  let got = first.value.length;
  await assert.rejects(
    (async () => {
      for (let r = await it.next(); !r.done; r = await it.next()) got += r.value.length;
    })(),
    (e) => e instanceof Unreachable,
  );
  assert.ok(got < BULK, `the stream was cut before the end (${got} of ${BULK} records came)`);
  await until('the failure logged', async () => cp.logs.some((l) => l.includes('snapshot stream failed')) || undefined);

  // Still up, and the pool gave up the dead connection: the next snapshot is whole.
  assert.equal((await cp.call('GET', '/healthz')).status, 200);
  const again = await snapshotOf(cp, gw);
  assert.equal(again.records.length, BULK);
});
