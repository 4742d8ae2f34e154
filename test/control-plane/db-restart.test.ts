/**
 * The database restarting or stopped under two real `damm serve` processes,
 * on a throwaway Postgres cluster this file starts and owns:
 * - `pg_ctl restart -m fast` in the middle of an enrollment burst: both
 *   processes stay up, every answer is a 201 or a 503 store_unavailable
 *   (never a 500, never a dropped connection), both answer 201 again soon
 *   after the database is back, every acknowledged enrollment is stored once
 *   with its own addresses, and the feed's LISTEN connection came back;
 * - the database stopped: every endpoint that needs it answers 503
 *   store_unavailable with a Retry-After, /healthz still answers, and the
 *   wizard's status panel (real Chromium) says the service is partly working.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import pg from 'pg';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';
import { wgKeyPair } from '../helpers/keys.js';
import { damm, type Proc } from '../e2e/kit.js';
import { until } from '../helpers/wait.js';
import { newPage, useBrowser } from '../helpers/browser.js';

const RATE_PER_SECOND = 125;
/** The burst lasts at least this long, and at least RESUME_WINDOW_MS past the database's return. */
const MIN_BURST_MS = 8000;
const RESTART_AT_MS = 2500;
const RESUME_WINDOW_MS = 3000;
const MAX_REQUESTS = 2400;

const browser = await useBrowser();
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

interface Answer {
  status: number;
  body: any;
  retryAfter: string | undefined;
}

function request(method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(url, {
      method,
      agent,
      timeout: 30_000,
      headers: { ...headers, ...(data === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) }) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // kept as text: the assertion will show it
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, retryAfter: res.headers['retry-after'] });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${method} ${url} within 30 s`)));
    req.on('error', reject);
    req.end(data);
  });
}

let cluster: PgCluster;
const cps: Proc[] = [];
const urls: string[] = [];
let dataDir = '';
let operatorToken = '';
let gateway: { gatewayId: string; credential: string };
let check: pg.Pool;

const op = (i: number, method: 'GET' | 'POST', p: string, body?: unknown) => request(method, `${urls[i]}${p}`, body, { authorization: `Bearer ${operatorToken}` });

before(async () => {
  cluster = await startPgCluster();
  const admin = new pg.Client({ connectionString: cluster.url() });
  await admin.connect();
  await admin.query('CREATE DATABASE damm');
  await admin.end();
  dataDir = await mkdtemp(path.join(tmpdir(), 'damm-dbfault-cp-'));
  for (let i = 0; i < 2; i++) {
    // One after the other: the first initialises the data directory (keys), the second reuses it.
    const p = damm(null, ['serve', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0'], {
      DATABASE_URL: cluster.url('damm'),
      DAMM_LOG_LEVEL: 'warn',
      // The gateway below is registered by hand and sends no heartbeats.
      DAMM_GATEWAY_OFFLINE_AFTER_SECONDS: '86400',
    });
    cps.push(p);
    const line = await p.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+/, 60_000);
    urls.push(/(http:\/\/127\.0\.0\.1:\d+)/.exec(line)![1]!);
  }
  operatorToken = (await readFile(path.join(dataDir, 'operator-token'), 'utf8')).trim();
  const add = await op(0, 'POST', '/v1/operator/gateways', { region: 'NL', country: 'NL' });
  assert.equal(add.status, 201, JSON.stringify(add.body));
  const reg = await request('POST', `${urls[0]}/v1/gateways/register`, {
    registrationToken: add.body.registrationToken,
    doors: [{ lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: wgKeyPair().publicKey, params: null, endpoints: [{ host: '192.0.2.10', port: 51820 }] }],
    egressIps: ['192.0.2.10'],
  });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  gateway = reg.body;
  check = new pg.Pool({ connectionString: cluster.url('damm'), max: 2 });
  check.on('error', () => {});
});

after(async () => {
  agent.destroy();
  for (const p of cps) await p.kill('SIGKILL');
  await check?.end().catch(() => {});
  await cluster?.destroy();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const alive = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;

interface Shot {
  proc: number;
  sentAt: number;
  doneAt: number;
  publicKey: string;
  answer?: Answer;
  error?: string;
}

test('pg_ctl restart -m fast mid-burst: both processes stay up, answer 201 or 503 store_unavailable, resume within 2 s, lose and double nothing', { timeout: 120_000 }, async () => {
  const invites: string[] = [];
  for (let i = 0; i < 24; i++) {
    const r = await op(0, 'POST', '/v1/operator/invites', { uses: 100 });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    invites.push(r.body.token);
  }

  const shots: Shot[] = [];
  const pending: Promise<void>[] = [];
  const fire = (i: number) => {
    const shot: Shot = { proc: i % 2, sentAt: Date.now(), doneAt: 0, publicKey: wgKeyPair().publicKey };
    shots.push(shot);
    pending.push(
      request('POST', `${urls[shot.proc]}/v1/enroll`, { installPass: invites[i % invites.length], publicKey: shot.publicKey, region: 'NL' })
        .then((a) => void (shot.answer = a))
        .catch((err: Error) => void (shot.error = err.message))
        .finally(() => void (shot.doneAt = Date.now())),
    );
  };

  // The database's side of the story: when it stopped and came back, seen by fresh connections.
  let dbDownAt = 0;
  let dbUpAt = 0;
  let restartDone = 0;
  let restart: Promise<void> | null = null;
  const startRestart = () => {
    const restartAt = Date.now();
    const watch = (async () => {
      while (!restartDone || dbUpAt === 0) {
        const ok = await cluster.accepting();
        if (!ok && dbDownAt === 0) dbDownAt = Date.now();
        if (ok && dbDownAt !== 0 && dbUpAt === 0) dbUpAt = Date.now();
        if (ok && restartDone && dbUpAt === 0) dbUpAt = restartDone; // the outage fell between two probes
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    restart = cluster.restart().then(async () => {
      restartDone = Date.now();
      await watch;
      if (dbDownAt === 0) dbDownAt = restartAt;
    });
  };

  // Requests go out on a fixed schedule (catching up if the timer runs late), alternating between the processes.
  const t0 = Date.now();
  let sent = 0;
  for (;;) {
    const elapsed = Date.now() - t0;
    if (!restart && elapsed >= RESTART_AT_MS) startRestart();
    const done = elapsed >= MIN_BURST_MS && dbUpAt !== 0 && Date.now() - dbUpAt >= RESUME_WINDOW_MS;
    if (done || sent >= MAX_REQUESTS) break;
    const due = Math.min(MAX_REQUESTS, Math.floor((elapsed * RATE_PER_SECOND) / 1000));
    while (sent < due) fire(sent++);
    await new Promise((r) => setTimeout(r, 10));
  }
  await restart;
  await Promise.all(pending);

  // On a death, show what it printed that is not a JSON log line: the crash.
  assert.ok(cps.every(alive), `a control plane died: exit codes ${cps.map((p) => p.child.exitCode ?? p.child.signalCode).join(', ')}\n${cps.map((p) => p.lines.filter((l) => !l.startsWith('{')).slice(-40).join('\n')).join('\n---\n')}`);

  const dropped = shots.filter((s) => s.error);
  assert.deepEqual(dropped.map((s) => s.error).slice(0, 5), [], `${dropped.length} request(s) got no HTTP answer`);
  const byStatus = new Map<number, number>();
  for (const s of shots) byStatus.set(s.answer!.status, (byStatus.get(s.answer!.status) ?? 0) + 1);
  const wrong = shots.filter((s) => s.answer!.status !== 201 && s.answer!.status !== 503);
  assert.deepEqual(wrong.map((s) => ({ status: s.answer!.status, body: s.answer!.body })).slice(0, 3), [], `answers other than 201/503: ${JSON.stringify([...byStatus])}`);
  const refused = shots.filter((s) => s.answer!.status === 503);
  for (const s of refused) {
    assert.equal(s.answer!.body?.error?.code, 'store_unavailable', JSON.stringify(s.answer!.body));
    assert.match(s.answer!.body.error.message, /database/);
    assert.match(s.answer!.retryAfter ?? '', /^\d+$/, 'a 503 says when to retry');
  }
  assert.ok(refused.length > 0, 'no request met the outage: the restart was not exercised');

  // Resumption: the first 201 of each process among requests sent after the database accepted connections again.
  const resumeMs = [0, 1].map((p) => {
    const first = shots.filter((s) => s.proc === p && s.sentAt >= dbUpAt && s.answer!.status === 201).sort((a, b) => a.doneAt - b.doneAt)[0];
    assert.ok(first, `process ${p} answered no 201 after the database came back`);
    return first.doneAt - dbUpAt;
  });
  const around = (p: number) =>
    shots
      .filter((s) => s.proc === p && s.doneAt >= dbUpAt - 500)
      .slice(0, 12)
      .map((s) => `sent ${s.sentAt - dbUpAt} done ${s.doneAt - dbUpAt} ${s.answer!.status}`)
      .join('; ');
  for (const [p, ms] of resumeMs.entries()) assert.ok(ms <= 2000, `process ${p} resumed ${ms} ms after the database (limit 2000 ms); answers around then (ms from the database's return): ${around(p)}`);

  // Every acknowledged enrollment is stored, once, with the addresses it was given; nothing is stored twice.
  const acked = shots.filter((s) => s.answer!.status === 201);
  const rows = (await check.query<{ id: string; public_key: string; ipv4: string; ipv6: string }>('SELECT id, public_key, host(ipv4) AS ipv4, host(ipv6) AS ipv6 FROM devices')).rows;
  const byId = new Map(rows.map((r) => [r.id, r]));
  const missing = acked.filter((s) => {
    const r = byId.get(s.answer!.body.deviceId);
    return !r || r.public_key !== s.publicKey || r.ipv4 !== s.answer!.body.addresses.ipv4 || r.ipv6 !== s.answer!.body.addresses.ipv6;
  });
  assert.equal(missing.length, 0, `acknowledged but not stored as answered: ${JSON.stringify(missing.slice(0, 3).map((s) => s.answer!.body))}`);
  assert.equal(new Set(acked.map((s) => s.answer!.body.deviceId)).size, acked.length, 'a device id was acknowledged twice');
  for (const col of ['id', 'public_key', 'ipv4', 'ipv6'] as const) {
    assert.equal(new Set(rows.map((r) => r[col])).size, rows.length, `a ${col} is stored twice`);
  }
  // Every stored device's event gets a revision (the sequencer survived), and no 500 was ever logged.
  await until('every feed event to be sequenced', async () => {
    const r = await check.query<{ n: string }>('SELECT count(*) AS n FROM feed_events WHERE revision IS NULL');
    return r.rows[0]!.n === '0';
  }, 10_000, 25);
  for (const p of cps) assert.equal(p.json().filter((l) => l.msg === 'unhandled error').length, 0, 'a failure was answered as 500 internal');

  console.log(`# ${shots.length} enrollments over ${Date.now() - t0} ms at ${RATE_PER_SECOND}/s: ${acked.length} acknowledged (201), ${refused.length} refused 503 store_unavailable; database down ${dbDownAt - t0} ms → up ${dbUpAt - t0} ms after the first request (${dbUpAt - dbDownAt} ms out); first 201 per process ${resumeMs.join(' / ')} ms after the database was back; ${rows.length} devices stored`);
});

test('after the restart, each process follows the feed through LISTEN again: a long poll in one wakes on an enrollment in the other', { timeout: 60_000 }, async () => {
  const auth = { authorization: `Bearer ${gateway.credential}` };
  // Both processes have reconnected their LISTEN client once their logs say it was lost (the restart cut it).
  for (const p of cps) await p.waitFor(/feed LISTEN connection lost/, 10_000);
  const { rows } = await check.query<{ head: string }>('SELECT head FROM feed_state WHERE id = 1');
  const after = Number(rows[0]!.head);
  // Let the LISTEN reconnect happen (backoff starts at 0.25 s) before the long poll starts.
  await until('both LISTEN connections to be back', async () => {
    const r = await check.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'damm-feed-listen' AND state IS NOT NULL");
    return Number(r.rows[0]!.n) >= 2;
  }, 15_000, 25);
  const t = Date.now();
  const poll = request('GET', `${urls[1]}/v1/gateways/${gateway.gatewayId}/feed?after=${after}&wait=20`, undefined, auth);
  const invite = await op(0, 'POST', '/v1/operator/invites', { uses: 1 });
  const enrolled = await request('POST', `${urls[0]}/v1/enroll`, { installPass: invite.body.token, publicKey: wgKeyPair().publicKey, region: 'NL' });
  assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
  const woke = await poll;
  const ms = Date.now() - t;
  assert.equal(woke.status, 200, JSON.stringify(woke.body));
  assert.ok(woke.body.events.some((e: { deviceId: string }) => e.deviceId === enrolled.body.deviceId), 'the new device is in the feed');
  // Without NOTIFY the long poll would only re-read after 5 s.
  assert.ok(ms < 3000, `the long poll took ${ms} ms: woken by the 5 s re-read, not by NOTIFY`);
});

test('with the database stopped: every endpoint that needs it answers 503 store_unavailable with a Retry-After; /healthz answers; service comes back with it', { timeout: 60_000 }, async () => {
  const invite = await op(0, 'POST', '/v1/operator/invites', { uses: 1 });
  const device = await request('POST', `${urls[0]}/v1/enroll`, { installPass: invite.body.token, publicKey: wgKeyPair().publicKey, region: 'NL' });
  assert.equal(device.status, 201, JSON.stringify(device.body));
  await cluster.stop();
  try {
    for (const [i, url] of urls.entries()) {
      const calls: [string, () => Promise<Answer>][] = [
        ['POST /v1/install-passes', () => request('POST', `${url}/v1/install-passes`, {})],
        ['POST /v1/enroll', () => request('POST', `${url}/v1/enroll`, { installPass: invite.body.token, publicKey: wgKeyPair().publicKey, region: 'NL' })],
        ['GET /v1/catalog', () => request('GET', `${url}/v1/catalog`)],
        ['GET /v1/posture', () => request('GET', `${url}/v1/posture`)],
        ['GET /v1/whoami', () => request('GET', `${url}/v1/whoami?device=${device.body.deviceId}`)],
        ['GET /v1/operator/devices', () => op(i, 'GET', '/v1/operator/devices')],
        ['GET /v1/operator/passes', () => op(i, 'GET', '/v1/operator/passes')],
        ['GET /v1/operator/gateways', () => op(i, 'GET', '/v1/operator/gateways')],
        ['GET /v1/operator/audit', () => op(i, 'GET', '/v1/operator/audit')],
        ['POST /v1/operator/invites', () => op(i, 'POST', '/v1/operator/invites', { uses: 1 })],
        ['GET /v1/gateways/:id/feed', () => request('GET', `${url}/v1/gateways/${gateway.gatewayId}/feed?after=0&wait=0`, undefined, { authorization: `Bearer ${gateway.credential}` })],
        ['GET /readyz', () => request('GET', `${url}/readyz`)],
      ];
      for (const [name, call] of calls) {
        const t = Date.now();
        const a = await call();
        const ms = Date.now() - t;
        assert.equal(a.status, 503, `${name} on process ${i}: ${a.status} ${JSON.stringify(a.body)}`);
        assert.equal(a.body?.error?.code, 'store_unavailable', `${name}: ${JSON.stringify(a.body)}`);
        assert.match(a.retryAfter ?? '', /^\d+$/, `${name} says when to retry`);
        assert.ok(ms < 5000, `${name} took ${ms} ms to fail: requests must not queue while the database is down`);
      }
      const health = await request('GET', `${url}/healthz`);
      assert.equal(health.status, 200, JSON.stringify(health.body));
    }
    // The wizard still loads (static files) and its status panel says what is going on, in words.
    const page = await newPage(browser);
    await page.goto(`${urls[0]}/get/`);
    const panel = page.locator('#posture[data-status="degraded"] #posture-summary');
    await panel.waitFor();
    assert.match(await panel.innerText(), /^Partly working\. The service cannot reach its database right now.*devices already connected keep working\. Try again in \d+ seconds\.$/);
    await page.context().close();
    assert.ok(cps.every(alive), 'a control plane died while the database was stopped');
  } finally {
    await cluster.start();
  }
  const upAt = Date.now();
  for (const url of urls) {
    await until(`${url}/readyz to answer 200`, async () => (await request('GET', `${url}/readyz`)).status === 200, 2000, 25);
  }
  const invite2 = await op(1, 'POST', '/v1/operator/invites', { uses: 1 });
  const again = await request('POST', `${urls[1]}/v1/enroll`, { installPass: invite2.body.token, publicKey: wgKeyPair().publicKey, region: 'NL' });
  assert.equal(again.status, 201, JSON.stringify(again.body));
  console.log(`# database stopped: 12 endpoints × 2 processes answered 503 store_unavailable; both ready again ${Date.now() - upAt} ms after pg_ctl start returned`);
});
