/**
 * Slow and silent clients are cut off by the configured server timeouts,
 * against a real listening control plane (raw sockets, not inject): a
 * trickling body, connections that never send a byte, an idle keep-alive.
 * The gateway feed's long poll, which holds its answer, is not cut, and
 * /healthz keeps answering with 2,000 idle connections open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { startTestControlPlane, registerTestGateway, type TestControlPlane } from '../helpers/control-plane.js';
import { wgKeyPair } from '../helpers/keys.js';
import { loadConfig } from '../../src/control-plane/config.js';

// Small bounds so the file runs in seconds; Node checks them every 250 ms at these values.
const FAST = { headersTimeoutSeconds: 1, requestTimeoutSeconds: 2, keepAliveTimeoutSeconds: 1 };

interface Watched {
  socket: net.Socket;
  openedAt: number;
  /** Resolves when the server closes the connection: how long it lived and what it said. */
  closed: Promise<{ ms: number; reply: string }>;
}

function open(cp: TestControlPlane): Promise<Watched> {
  const { hostname, port } = new URL(cp.url);
  const socket = net.connect(Number(port), hostname);
  const openedAt = Date.now();
  let reply = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (reply += d));
  socket.on('error', () => {}); // writing to a cut connection fails (EPIPE, reset); 'close' follows
  // Not events.once(socket, 'close'): it rejects on that 'error'.
  const closed = new Promise<{ ms: number; reply: string }>((resolve) => socket.once('close', () => resolve({ ms: Date.now() - openedAt, reply })));
  return once(socket, 'connect').then(() => ({ socket, openedAt, closed }));
}

test('a request whose body trickles in gets 408 and is closed once the request timeout passes', async () => {
  const cp = await startTestControlPlane({ config: FAST });
  try {
    const c = await open(cp);
    c.socket.write('POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n');
    let sent = 0;
    const drip = setInterval(() => {
      if (c.socket.writable && sent < 499) {
        c.socket.write(' ');
        sent++;
      }
    }, 100);
    const { ms, reply } = await c.closed;
    clearInterval(drip);
    assert.match(reply, /^HTTP\/1\.1 408 /);
    // Cut by the request timeout (2 s, checked every 250 ms), not earlier by the headers timeout and not much later.
    assert.ok(ms >= 1900 && ms < 4500, `trickling request lived ${ms} ms`);
    assert.ok(sent >= 10, 'the body was still arriving when it was cut');
  } finally {
    await cp.stop();
  }
});

test('connections that never send a byte get 408 and are closed once the headers timeout passes', async () => {
  // A request timeout well past the headers timeout, so only the latter can have cut them.
  const cp = await startTestControlPlane({ config: { ...FAST, requestTimeoutSeconds: 5 } });
  try {
    const conns = await Promise.all(Array.from({ length: 200 }, () => open(cp)));
    const results = await Promise.all(conns.map((c) => c.closed));
    for (const { ms, reply } of results) {
      assert.match(reply, /^HTTP\/1\.1 408 /);
      assert.ok(ms >= 900 && ms < 4000, `a silent connection lived ${ms} ms`);
    }
  } finally {
    await cp.stop();
  }
});

test('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
  const cp = await startTestControlPlane({ config: FAST });
  try {
    const c = await open(cp);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const { ms, reply } = await c.closed;
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(reply, /408/, 'closed quietly, not with a timeout answer');
    // Node keeps a keep-alive socket up to keepAliveTimeout plus a 1 s grace.
    assert.ok(ms >= 900 && ms < 4500, `idle keep-alive connection lived ${ms} ms`);
  } finally {
    await cp.stop();
  }
});

test('the gateway feed long poll outlives the request and headers timeouts', async () => {
  const cp = await startTestControlPlane({ config: FAST });
  try {
    const gw = await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey });
    const started = Date.now();
    const r = await cp.call('GET', `/v1/gateways/${gw.gatewayId}/feed?after=0&wait=4`, undefined, { authorization: `Bearer ${gw.credential}` });
    const after = (await cp.call('GET', `/v1/gateways/${gw.gatewayId}/feed?after=${r.body.revision}&wait=4`, undefined, { authorization: `Bearer ${gw.credential}` }));
    assert.equal(r.status, 200);
    assert.equal(after.status, 200);
    assert.deepEqual(after.body.events, []);
    assert.ok(Date.now() - started >= 4000, 'the empty poll was held for its full wait, past the 2 s request timeout');
  } finally {
    await cp.stop();
  }
});

test('/healthz answers promptly while 2,000 idle connections are open', async () => {
  // Default timeouts: the idle connections stay open for the whole measurement.
  const cp = await startTestControlPlane();
  const conns: Watched[] = [];
  try {
    // Wait until the server has accepted all of them, not just the kernel's backlog.
    let accepted = 0;
    const allAccepted = new Promise<void>((resolve) => {
      cp.app.server.on('connection', () => {
        if (++accepted === 2000) resolve();
      });
    });
    for (let i = 0; i < 2000; i += 200) conns.push(...(await Promise.all(Array.from({ length: 200 }, () => open(cp)))));
    await allAccepted;
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const r = await cp.call('GET', '/healthz');
      times.push(performance.now() - t0);
      assert.equal(r.status, 200);
    }
    times.sort((a, b) => a - b);
    const p95 = times[Math.floor(times.length * 0.95) - 1]!;
    assert.ok(p95 < 500, `/healthz p95 ${p95.toFixed(1)} ms with 2,000 idle connections`);
    const stillOpen = conns.filter((c) => !c.socket.destroyed).length;
    assert.equal(stillOpen, 2000, 'the idle connections were open during the measurement');
    console.log(`# /healthz with 2,000 idle connections: median ${times[10]!.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`);
  } finally {
    for (const c of conns) c.socket.destroy();
    await cp.stop();
  }
});

test('timeout settings are validated: headers within the request timeout, socket idle beyond the feed hold', () => {
  assert.throws(() => loadConfig({ DAMM_HEADERS_TIMEOUT_SECONDS: '40', DAMM_REQUEST_TIMEOUT_SECONDS: '30' }), (e: any) => e.code === 'config_invalid' && /HEADERS_TIMEOUT/.test(e.message));
  assert.throws(() => loadConfig({ DAMM_SOCKET_IDLE_TIMEOUT_SECONDS: '20' }), (e: any) => e.code === 'config_invalid' && /socketIdleTimeoutSeconds/.test(e.message));
  const c = loadConfig({ DAMM_HEADERS_TIMEOUT_SECONDS: '5', DAMM_REQUEST_TIMEOUT_SECONDS: '20', DAMM_KEEP_ALIVE_TIMEOUT_SECONDS: '7', DAMM_SOCKET_IDLE_TIMEOUT_SECONDS: '45' });
  assert.deepEqual([c.headersTimeoutSeconds, c.requestTimeoutSeconds, c.keepAliveTimeoutSeconds, c.socketIdleTimeoutSeconds], [5, 20, 7, 45]);
});
