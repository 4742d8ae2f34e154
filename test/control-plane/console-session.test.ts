/**
 * Console sign-in over real HTTP on a real Postgres, without a browser: the
 * session cookie's attributes, the session stored only hashed, idle and
 * absolute expiry on a controllable clock, sign-out, every CSRF refusal
 * (no header, wrong header, another origin, a cross-site fetch), the bearer
 * token still working beside the cookie, and the operator API additions the
 * console uses (search, suspend/resume, pass revoke, overview, trust, audit filters).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { registerTestGateway, startTestControlPlane, type TestControlPlane } from '../helpers/control-plane.js';
import { wgKeyPair } from '../helpers/keys.js';
import { ManualClock } from '../../src/core/clock.js';

const clock = new ManualClock(new Date());
let cp: TestControlPlane;
let origin: string;

before(async () => {
  cp = await startTestControlPlane({ clock, config: { consoleSessionIdleSeconds: 600, consoleSessionMaxSeconds: 3600, gatewayOfflineAfterSeconds: 30 * 86400 } });
  origin = new URL(cp.url).origin;
  await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey, region: 'NL', country: 'NL' });
});
after(() => cp?.stop());

async function signIn(token = cp.operatorToken) {
  const r = await cp.call('POST', '/v1/console/session', { token }, { origin });
  return { ...r, cookie: (r.headers.get('set-cookie') ?? '').split(';')[0]! };
}

test('a wrong token is refused with a sentence, and nothing is stored', async () => {
  const before = await cp.database.db.query('SELECT count(*)::int AS n FROM console_sessions');
  const r = await signIn('do_' + 'x'.repeat(32));
  assert.equal(r.status, 401);
  assert.equal(r.body.error.code, 'unauthorized');
  assert.match(r.body.error.message, /^That operator token is not valid: it is unknown or has been revoked\./);
  assert.equal(r.headers.get('set-cookie'), null);
  const garbage = await signIn('not a token at all');
  assert.equal(garbage.status, 401);
  const after = await cp.database.db.query('SELECT count(*)::int AS n FROM console_sessions');
  assert.equal(after.rows[0].n, before.rows[0].n);
});

test('sign-in sets an HttpOnly, Secure, SameSite=Strict __Host- cookie; the store holds only its hash; the token and session never reach a log', async () => {
  const r = await signIn();
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const set = r.headers.get('set-cookie')!;
  assert.match(set, /^__Host-damm_session=ds_[A-Za-z0-9_-]{32}; Path=\/; Max-Age=3600; HttpOnly; Secure; SameSite=Strict$/);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.equal(r.body.operator, 'test');
  assert.ok(!JSON.stringify(r.body).includes(cp.operatorToken), 'the token is not echoed');
  const sessionId = r.cookie.split('=')[1]!;
  const rows = await cp.database.db.query<{ id_hash: Buffer }>('SELECT id_hash FROM console_sessions');
  const hash = createHash('sha256').update(sessionId).digest();
  assert.ok(rows.rows.some((x) => x.id_hash.equals(hash)), 'the SHA-256 of the session id is stored');
  const dump = JSON.stringify((await cp.database.db.query('SELECT * FROM console_sessions')).rows);
  assert.ok(!dump.includes(sessionId), 'the session id itself is not stored');
  // The cookie reads the operator API; the page learns the CSRF token from the session call.
  const me = await cp.call('GET', '/v1/console/session', undefined, { cookie: r.cookie });
  assert.equal(me.status, 200);
  assert.equal(me.body.csrfToken, r.body.csrfToken);
  const devices = await cp.call('GET', '/v1/operator/devices', undefined, { cookie: r.cookie });
  assert.equal(devices.status, 200);
  for (const line of cp.logs) {
    assert.ok(!line.includes(cp.operatorToken), `operator token in a log line: ${line}`);
    assert.ok(!line.includes(sessionId), `session id in a log line: ${line}`);
  }
});

test('CSRF: a change with the cookie but without the header, with a wrong header, from another origin, or cross-site is refused with 403 csrf_refused and changes nothing', async () => {
  const s = await signIn();
  const csrf = s.body.csrfToken as string;
  const invite = (headers: Record<string, string>) => cp.call('POST', '/v1/operator/invites', { note: 'csrf probe' }, { cookie: s.cookie, ...headers });
  const count = async () => (await cp.database.db.query("SELECT count(*)::int AS n FROM install_passes WHERE note = 'csrf probe'")).rows[0].n;
  const cases: [string, Record<string, string>][] = [
    ['no CSRF header', { origin }],
    ['a wrong CSRF header', { origin, 'x-damm-csrf': csrf.slice(0, -2) + 'AA' }],
    ['no Origin', { 'x-damm-csrf': csrf }],
    ['another origin', { origin: 'https://evil.example', 'x-damm-csrf': csrf }],
    ['a cross-site fetch', { origin, 'x-damm-csrf': csrf, 'sec-fetch-site': 'cross-site' }],
  ];
  for (const [what, headers] of cases) {
    const r = await invite(headers);
    assert.equal(r.status, 403, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, 'csrf_refused', what);
    assert.match(r.body.error.message, /^Refused: /, what);
  }
  assert.equal(await count(), 0, 'no refused request issued an invite');
  const ok = await invite({ origin, 'x-damm-csrf': csrf, 'sec-fetch-site': 'same-origin' });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal(await count(), 1);
  // The CLI's bearer token needs neither (no browser, no ambient credential).
  const cli = await cp.op('POST', '/v1/operator/invites', { note: 'csrf probe' });
  assert.equal(cli.status, 201);
  // The audit entry names the operator, whichever way it signed in.
  const audit = await cp.op('GET', '/v1/operator/audit?action=invite.issued&actor=operator:test');
  assert.ok(audit.body.entries.length >= 2);
});

test('a session ends after its idle time and at its absolute limit, with a sentence', async () => {
  const s = await signIn();
  clock.advance(599);
  assert.equal((await cp.call('GET', '/v1/operator/devices', undefined, { cookie: s.cookie })).status, 200, 'used within the idle time');
  clock.advance(599);
  assert.equal((await cp.call('GET', '/v1/operator/devices', undefined, { cookie: s.cookie })).status, 200, 'each request restarts the idle timer');
  clock.advance(601);
  const idle = await cp.call('GET', '/v1/operator/devices', undefined, { cookie: s.cookie });
  assert.equal(idle.status, 401);
  assert.equal(idle.body.error.code, 'session_expired');
  assert.match(idle.body.error.message, /^Your console session has ended: .*idle for more than 10 minute\(s\).* Sign in again\.$/);

  const busy = await signIn();
  for (let t = 0; t < 3500; t += 500) {
    clock.advance(500);
    assert.equal((await cp.call('GET', '/v1/console/session', undefined, { cookie: busy.cookie })).status, 200);
  }
  clock.advance(200);
  assert.equal((await cp.call('GET', '/v1/console/session', undefined, { cookie: busy.cookie })).status, 401, 'no session outlives its absolute limit, however busy');
});

test('sign-out needs the CSRF header, ends the session for good and clears the cookie', async () => {
  const s = await signIn();
  const refused = await cp.call('DELETE', '/v1/console/session', undefined, { cookie: s.cookie, origin });
  assert.equal(refused.status, 403);
  assert.equal((await cp.call('GET', '/v1/console/session', undefined, { cookie: s.cookie })).status, 200, 'a refused sign-out leaves the session');
  const out = await cp.call('DELETE', '/v1/console/session', undefined, { cookie: s.cookie, origin, 'x-damm-csrf': s.body.csrfToken });
  assert.equal(out.status, 204);
  assert.match(out.headers.get('set-cookie')!, /^__Host-damm_session=; Path=\/; Max-Age=0;/);
  const after = await cp.call('GET', '/v1/console/session', undefined, { cookie: s.cookie });
  assert.equal(after.status, 401);
  assert.equal(after.body.error.code, 'session_expired');
  const audit = await cp.op('GET', '/v1/operator/audit?action=console.');
  assert.deepEqual([...new Set(audit.body.entries.map((e: { action: string }) => e.action))].sort(), ['console.signed_in', 'console.signed_out']);
});

test('a revoked operator token ends its console sessions at once', async () => {
  const s = await signIn();
  await cp.database.db.query("UPDATE operator_tokens SET revoked_at = now() WHERE name = 'test'");
  try {
    assert.equal((await cp.call('GET', '/v1/operator/devices', undefined, { cookie: s.cookie })).status, 401);
  } finally {
    await cp.database.db.query("UPDATE operator_tokens SET revoked_at = NULL WHERE name = 'test'");
  }
});

test('operator API for the console: search, suspend, resume, revoke a pass, overview, trust status, audit filters', async () => {
  const inv = await cp.op('POST', '/v1/operator/invites', { note: 'laptop of Ada', uses: 2 });
  const kp = wgKeyPair();
  const enrolled = await cp.call('POST', '/v1/enroll', { installPass: inv.body.token, publicKey: kp.publicKey });
  assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
  const id = enrolled.body.deviceId as string;
  for (const q of [id.slice(0, 8), enrolled.body.addresses.ipv4, kp.publicKey.slice(0, 10), 'ada']) {
    const r = await cp.op('GET', `/v1/operator/devices?q=${encodeURIComponent(q)}`);
    assert.deepEqual(r.body.devices.map((d: { id: string }) => d.id), [id], `search ${q}`);
    assert.equal(r.body.devices[0].note, 'laptop of Ada');
    assert.equal(r.body.devices[0].usageBytes, 0);
    assert.equal(r.body.devices[0].quotaBytes, 107374182400);
  }
  assert.equal((await cp.op('GET', '/v1/operator/devices?q=nothing-like-it')).body.devices.length, 0);

  const sus = await cp.op('POST', `/v1/operator/devices/${id}/suspend`, { reason: 'lost phone' });
  assert.equal(sus.status, 200);
  assert.equal(sus.body.state, 'suspended');
  assert.equal((await cp.op('POST', `/v1/operator/devices/${id}/suspend`, {})).status, 409);
  const res = await cp.op('POST', `/v1/operator/devices/${id}/resume`, {});
  assert.equal(res.body.state, 'active');
  const feed = await cp.database.db.query<{ kind: string }>('SELECT kind FROM feed_events WHERE device_id = $1 ORDER BY revision', [id]);
  assert.deepEqual(feed.rows.map((r) => r.kind), ['upsert', 'remove', 'upsert'], 'suspend removes the peer, resume admits it again');

  const rv = await cp.op('POST', `/v1/operator/passes/${inv.body.id}/revoke`);
  assert.equal(rv.status, 204);
  const again = await cp.call('POST', '/v1/enroll', { installPass: inv.body.token, publicKey: wgKeyPair().publicKey });
  assert.equal(again.body.error.code, 'invalid_pass', 'a revoked invite no longer enrolls');
  assert.equal((await cp.op('POST', `/v1/operator/passes/${inv.body.id}/revoke`)).status, 409);

  const ov = await cp.op('GET', '/v1/operator/overview');
  assert.equal(ov.status, 200, JSON.stringify(ov.body));
  assert.equal(ov.body.enrollmentsPerHour.length, 24);
  assert.ok(ov.body.enrollmentsPerHour.at(-1).count >= 1);
  assert.equal(ov.body.bytesPerDay.length, 14);
  assert.deepEqual(ov.body.gateways, { total: 1, registered: 1, online: 1 });

  const trust = await cp.op('GET', '/v1/operator/trust');
  assert.equal(trust.body.rootVersion, 1);
  assert.equal(trust.body.catalog.keys.length, 1);
  assert.ok(trust.body.catalog.rotationDueAt);

  const audit = await cp.op('GET', `/v1/operator/audit?subject=device:${id}&action=device.`);
  assert.deepEqual(audit.body.entries.map((e: { action: string; actor: string }) => `${e.action} ${e.actor}`), [`device.enrolled device:${id}`, 'device.suspended operator:test', 'device.resumed operator:test']);
  const future = await cp.op('GET', `/v1/operator/audit?since=${encodeURIComponent(new Date(clock.now().getTime() + 60_000).toISOString())}`);
  assert.equal(future.body.entries.length, 0);
});

test('the overview warns, in words, of keys to rotate, a root to refresh and a silent gateway', async () => {
  assert.deepEqual((await cp.op('GET', '/v1/operator/overview')).body.warnings, [], 'nothing to warn about yet');
  clock.advance(340 * 86400); // online keys and the root live 365 days
  const ov = await cp.op('GET', '/v1/operator/overview');
  const w = ov.body.warnings.join('\n');
  assert.match(w, /every catalog key ends within 30 days: run "damm keys rotate --role catalog --root-key \.\.\."/);
  assert.match(w, /every admission key ends within 30 days/);
  assert.match(w, /root v1 expires .*: run "damm keys refresh --root-key \.\.\." soon/);
  assert.match(w, /gateway gw-nl-\w+ \(NL\) is offline: its last heartbeat was \d+ minute\(s\) ago/);
  const trust = await cp.op('GET', '/v1/operator/trust');
  assert.ok(new Date(trust.body.catalog.rotationDueAt).getTime() < clock.now().getTime(), 'the rotation due date has passed');
});
