/** Install-pass abuse limits: per client network (IPv4 address, IPv6 prefix) over any rolling hour, shared by processes, trusted proxies only, surge tightening, invite-only. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestControlPlane, registerTestGateway } from '../helpers/control-plane.js';
import { createTestDatabase, tableCounts } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';
import { ManualClock } from '../../src/core/clock.js';

test('public minting is limited per client IP (default 3 per hour) and says when to retry', async () => {
  const cp = await startTestControlPlane();
  try {
    for (let i = 0; i < 3; i++) assert.equal((await cp.call('POST', '/v1/install-passes')).status, 201);
    const before = await tableCounts(cp.database.db);
    const r = await cp.call('POST', '/v1/install-passes');
    assert.equal(r.status, 429);
    assert.equal(r.body.error.code, 'rate_limited');
    assert.ok(r.body.error.retryAfterSeconds > 0 && r.body.error.retryAfterSeconds <= 3600);
    assert.equal(r.headers.get('retry-after'), String(r.body.error.retryAfterSeconds));
    assert.deepEqual(await tableCounts(cp.database.db), before);
  } finally {
    await cp.stop();
  }
});

test('a spoofed X-Forwarded-For from an untrusted peer is ignored: no limit bypass, no changes, whoami shows the socket address', async () => {
  const cp = await startTestControlPlane({ config: { mintLimitPerHour: 2 } });
  try {
    for (let i = 0; i < 2; i++) assert.equal((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': `203.0.113.${i}` })).status, 201);
    const before = await tableCounts(cp.database.db);
    const r = await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': '198.51.100.7' });
    assert.equal(r.status, 429);
    assert.equal(r.body.error.code, 'rate_limited');
    assert.deepEqual(await tableCounts(cp.database.db), before);
    assert.equal((await cp.call('GET', '/v1/whoami', undefined, { 'x-forwarded-for': '198.51.100.7' })).body.ip, '127.0.0.1');
  } finally {
    await cp.stop();
  }
});

test('behind a configured trusted proxy, the client IP comes from X-Forwarded-For', async () => {
  const cp = await startTestControlPlane({ config: { mintLimitPerHour: 1, trustedProxies: ['127.0.0.1/32'] } });
  try {
    assert.equal((await cp.call('GET', '/v1/whoami', undefined, { 'x-forwarded-for': '198.51.100.7' })).body.ip, '198.51.100.7');
    // Each forwarded client has its own allowance.
    assert.equal((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': '198.51.100.7' })).status, 201);
    assert.equal((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': '198.51.100.7' })).status, 429);
    assert.equal((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': '198.51.100.8' })).status, 201);
    // A client-supplied hop before the proxy's own entry is not trusted: the rightmost untrusted address counts.
    assert.equal((await cp.call('GET', '/v1/whoami', undefined, { 'x-forwarded-for': '10.9.9.9, 198.51.100.9' })).body.ip, '198.51.100.9');
  } finally {
    await cp.stop();
  }
});

test('limits are shared by every control-plane process on one store', async () => {
  const database = await createTestDatabase();
  const a = await startTestControlPlane({ database, config: { mintLimitPerHour: 3 } });
  const b = await startTestControlPlane({ database, config: { mintLimitPerHour: 3 } });
  try {
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await (i % 2 ? a : b).call('POST', '/v1/install-passes')).status);
    assert.deepEqual(statuses, [201, 201, 201, 429, 429, 429]);
  } finally {
    await a.stop();
    await b.stop();
    await database.close();
  }
});

test('when the global mint rate surges, each IP gets a third of its allowance', async () => {
  const cp = await startTestControlPlane({ config: { mintLimitPerHour: 3, mintSurgePerHour: 4, trustedProxies: ['127.0.0.1/32'] } });
  try {
    for (let i = 0; i < 4; i++) assert.equal((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': `198.51.100.${i}` })).status, 201);
    const ip = { 'x-forwarded-for': '203.0.113.50' };
    assert.equal((await cp.call('POST', '/v1/install-passes', undefined, ip)).status, 201);
    const r = await cp.call('POST', '/v1/install-passes', undefined, ip);
    assert.equal(r.status, 429);
    assert.match(r.body.error.message, /busy/);
  } finally {
    await cp.stop();
  }
});

test('invite-only: public minting off refuses anonymous passes but invites still enroll', async () => {
  const cp = await startTestControlPlane({ config: { publicMinting: false } });
  try {
    await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey });
    const before = await tableCounts(cp.database.db);
    const r = await cp.call('POST', '/v1/install-passes');
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'public_minting_disabled');
    assert.match(r.body.error.message, /invite/);
    assert.deepEqual(await tableCounts(cp.database.db), before);
    assert.equal((await cp.call('GET', '/v1/posture')).body.publicEnrollment, false);
    const inv = await cp.op('POST', '/v1/operator/invites', {});
    assert.equal((await cp.call('POST', '/v1/enroll', { installPass: inv.body.token, publicKey: wgKeyPair().publicKey })).status, 201);
  } finally {
    await cp.stop();
  }
});

test('an IPv6 /64 is one client: eight of its addresses share one allowance, another /64 has its own', async () => {
  const cp = await startTestControlPlane({ config: { mintLimitPerHour: 3, trustedProxies: ['127.0.0.1/32'] } });
  try {
    const statuses = [];
    for (let i = 1; i <= 8; i++) statuses.push((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': `2001:db8:1:2::${i.toString(16)}:${i}` })).status);
    assert.deepEqual(statuses, [201, 201, 201, 429, 429, 429, 429, 429]);
    const before = await tableCounts(cp.database.db);
    assert.equal((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': '2001:db8:1:2:ffff:ffff:ffff:ffff' })).status, 429);
    assert.deepEqual(await tableCounts(cp.database.db), before);
    assert.equal((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': '2001:db8:1:3::1' })).status, 201);
  } finally {
    await cp.stop();
  }
});

test('the IPv6 prefix length is a setting: at /48 neighbouring /64s share one allowance', async () => {
  const cp = await startTestControlPlane({ config: { mintLimitPerHour: 2, mintLimitIpv6Prefix: 48, trustedProxies: ['127.0.0.1/32'] } });
  try {
    const statuses = [];
    for (const ip of ['2001:db8:5:1::1', '2001:db8:5:2::1', '2001:db8:5:3::1']) statuses.push((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': ip })).status);
    assert.deepEqual(statuses, [201, 201, 429]);
    assert.equal((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': '2001:db8:6::1' })).status, 201);
  } finally {
    await cp.stop();
  }
});

test('an IPv4 client counts the same whether it arrives as IPv4 or IPv4-mapped IPv6', async () => {
  const cp = await startTestControlPlane({ config: { mintLimitPerHour: 2, trustedProxies: ['127.0.0.1/32'] } });
  try {
    assert.equal((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': '198.51.100.20' })).status, 201);
    assert.equal((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': '::ffff:198.51.100.20' })).status, 201);
    assert.equal((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': '198.51.100.20' })).status, 429);
    assert.equal((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': '::ffff:198.51.100.20' })).status, 429);
    // Neighbouring IPv4 addresses are separate clients (no /24 grouping).
    assert.equal((await cp.call('POST', '/v1/install-passes', undefined, { 'x-forwarded-for': '198.51.100.21' })).status, 201);
  } finally {
    await cp.stop();
  }
});

test('no burst of twice the limit across the top of the hour; the allowance returns an hour after each pass', async () => {
  const clock = new ManualClock('2026-05-01T09:59:00Z');
  const cp = await startTestControlPlane({ clock, config: { mintLimitPerHour: 3 } });
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal((await cp.call('POST', '/v1/install-passes')).status, 201);
      clock.advance(20);
    }
    clock.set('2026-05-01T10:00:30Z'); // a fixed hourly window would have started afresh
    const r = await cp.call('POST', '/v1/install-passes');
    assert.equal(r.status, 429);
    assert.equal(r.body.error.retryAfterSeconds, 3600 - 90, 'the 09:59:00 pass leaves the window at 10:59:00');
    assert.equal(r.headers.get('retry-after'), String(3600 - 90));
    clock.set('2026-05-01T10:59:00Z');
    assert.equal((await cp.call('POST', '/v1/install-passes')).status, 201);
    assert.equal((await cp.call('POST', '/v1/install-passes')).status, 429, 'the 09:59:20 and 09:59:40 passes are still in the window');
  } finally {
    await cp.stop();
  }
});

test('concurrent mints from one client through two control-plane processes never exceed the limit', async () => {
  const database = await createTestDatabase();
  const a = await startTestControlPlane({ database, config: { mintLimitPerHour: 3 } });
  const b = await startTestControlPlane({ database, config: { mintLimitPerHour: 3 } });
  try {
    const statuses = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? a : b).call('POST', '/v1/install-passes').then((r) => r.status)));
    assert.equal(statuses.filter((s) => s === 201).length, 3);
    assert.equal(statuses.filter((s) => s === 429).length, 21);
    const passes = await database.db.query("SELECT count(*)::int AS n FROM install_passes WHERE kind = 'public'");
    assert.equal(passes.rows[0].n, 3);
  } finally {
    await a.stop();
    await b.stop();
    await database.close();
  }
});
