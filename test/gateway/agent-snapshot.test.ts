/**
 * The agent and a snapshot stream that does not arrive whole: a real control
 * plane behind a proxy that cuts the snapshot answer after a few records.
 * The agent may already have put the first verified batch on the interface
 * (it applies while it reads), but it must not take the snapshot: cursor and
 * desired set stay, the interface is repaired back to the set in force, and
 * once the stream comes through whole the agent takes it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { GatewayAgent } from '../../src/gateway/agent/agent.js';
import { HttpControlPlaneApi } from '../../src/gateway/agent/api.js';
import { nodeEd25519 } from '../../src/platform/node-ed25519.js';
import { systemClock } from '../../src/core/clock.js';
import { FakeBackend } from './fake-backend.js';
import { enroll, invite, startFeedControlPlane, until, type FeedControlPlane } from './kit.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** Forwards everything to `target`; while `cutAfterLines` is set, a snapshot answer is cut (socket destroyed) after that many lines. */
async function cuttingProxy(target: string): Promise<{ url: string; cutAfterLines: number | null; cuts: number }> {
  const state = { url: '', cutAfterLines: null as number | null, cuts: 0 };
  const server = http.createServer((req, res) => {
    const up = http.request(new URL(req.url!, target), { method: req.method, headers: req.headers }, (upRes) => {
      const headers = { ...upRes.headers };
      const cut = state.cutAfterLines;
      if (cut === null || !/\/snapshot$/.test(req.url!) || upRes.statusCode !== 200) {
        res.writeHead(upRes.statusCode ?? 502, headers);
        upRes.pipe(res);
        return;
      }
      delete headers['content-length'];
      res.writeHead(200, headers);
      let text = '';
      upRes.on('data', (c: Buffer) => {
        if (res.destroyed) return;
        text += c.toString('utf8');
        const lines = text.split('\n');
        if (lines.length > cut) {
          res.write(lines.slice(0, cut).map((l) => `${l}\n`).join(''));
          state.cuts++;
          setImmediate(() => res.socket?.destroy());
          upRes.destroy();
        }
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

async function startAgent(url: string, stateDir: string, backend: FakeBackend, token?: string) {
  const logs: any[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (logs.push(JSON.parse(String(c))), cb()) }));
  const agent = new GatewayAgent({
    controlPlane: url,
    ...(token ? { token } : {}),
    interfaceName: 'wgsnap0',
    listenPort: 51820,
    endpoint: { host: '192.0.2.10', port: 51820 },
    egressIps: ['192.0.2.10'],
    stateDir,
    backend,
    // Two records a batch: the first batch is verified and applied before the cut.
    api: new HttpControlPlaneApi(url, 3000, 2),
    host: null,
    nat: false,
    clock: systemClock,
    log,
    ed: nodeEd25519(),
    reconcileIntervalMs: 3_600_000,
    heartbeatIntervalMs: 3_600_000,
    pollWaitSeconds: 5,
    feedBackoff: { minMs: 100, maxMs: 300 },
  });
  await agent.start();
  cleanups.push(() => agent.stop());
  return { agent, logs };
}

async function activeKeys(cp: FeedControlPlane): Promise<string[]> {
  const r = await cp.ctx.db.query("SELECT public_key FROM devices WHERE state = 'active' AND scope = 'region:NL'");
  return r.rows.map((x) => x.public_key).sort();
}

test('a snapshot cut off mid-stream is not taken: cursor and peers stay, the interface is repaired back; the whole one is taken later', async () => {
  const cp = await startFeedControlPlane();
  cleanups.push(() => cp.stop());
  const proxy = await cuttingProxy(cp.url);
  const stateDir = await mkdtemp(path.join(tmpdir(), 'damm-gwsnap-'));
  cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
  const token = (await cp.op('POST', '/v1/operator/gateways', { region: 'NL', country: 'NL' })).body.registrationToken;
  const backend = new FakeBackend();
  const first = await startAgent(proxy.url, stateDir, backend, token);
  const pass = await invite(cp, 20);
  const held = [await enroll(cp.url, pass), await enroll(cp.url, pass)];
  await until('the first two devices are peers', async () => JSON.stringify(backend.keys()) === JSON.stringify(await activeKeys(cp)) || undefined, 10_000);
  await first.agent.stop();
  const revisionHeld = first.agent.revision;

  // While the agent is down: one device revoked, five more enrolled, and the feed compacted so the agent's cursor is too old.
  await cp.op('POST', `/v1/operator/devices/${held[0]!.deviceId}/revoke`, {});
  for (let i = 0; i < 5; i++) await enroll(cp.url, pass);
  await until('sequenced', async () => Number((await cp.ctx.db.query('SELECT count(*) FROM feed_events WHERE revision IS NULL')).rows[0].count) === 0 || undefined);
  await cp.ctx.db.query("UPDATE feed_events SET created_at = created_at - interval '30 days'");
  assert.ok((await cp.feed.prune()) > 0);

  // Header and three records, then the connection drops: the first batch (two records) may already be on the interface.
  proxy.cutAfterLines = 4;
  const again = await startAgent(proxy.url, stateDir, backend);
  await until('a cut snapshot refused and the interface repaired back', async () => (proxy.cuts >= 2 && again.logs.some((l) => l.why === 'snapshot refused')) || undefined, 20_000);
  // The first batch went on the interface before the cut, and was taken off again by the repair.
  assert.ok(again.logs.some((l) => l.why === 'snapshot refused' && l.removed > 0));
  await again.agent.stop();
  assert.ok(!again.logs.some((l) => l.msg === 'snapshot applied'), 'a cut snapshot is never taken');
  assert.equal(again.agent.revision, null, 'no revision taken from a cut snapshot (the expired cursor was dropped, none replaced it)');
  // The interface is the set in force: the two devices held before (the revocation is not known yet).
  assert.deepEqual(backend.keys(), held.map((d) => d.publicKey).sort());
  assert.deepEqual(again.agent.desiredKeys().sort(), held.map((d) => d.publicKey).sort());

  // The stream comes through whole: taken, exactly the active set.
  proxy.cutAfterLines = null;
  const third = await startAgent(proxy.url, stateDir, backend);
  const restored = third.logs.find((l) => l.msg === 'desired set restored from the state directory');
  assert.equal(restored?.revision, revisionHeld, 'the state directory still holds the cursor and set from before the cut snapshot');
  assert.equal(restored?.peers, 2);
  await until('"snapshot applied"', async () => third.logs.some((l) => l.msg === 'snapshot applied') || undefined, 20_000);
  assert.deepEqual(backend.keys(), await activeKeys(cp));
  assert.ok(!backend.keys().includes(held[0]!.publicKey), 'the device revoked meanwhile left');
  assert.ok((third.agent.revision ?? 0) > (revisionHeld ?? 0));
});
