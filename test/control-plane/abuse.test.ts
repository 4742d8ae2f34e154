/** Install-pass abuse limits: per client IP, shared by processes, trusted proxies only, surge tightening, invite-only. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestControlPlane, registerTestGateway } from '../helpers/control-plane.js';
import { createTestDatabase, tableCounts } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';

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
