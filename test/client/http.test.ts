/**
 * The one Node HTTP client (src/client/http.ts) against a real local HTTP
 * server: answers, refusals and failures become what callers act on, and
 * close() really ends the connections (the server sees its sockets close).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { Type } from '@sinclair/typebox';
import { HttpClient, Unreachable } from '../../src/client/http.js';
import { DammError } from '../../src/core/errors.js';
import { until, within } from '../helpers/wait.js';

interface Seen {
  socket: Socket;
  closed: Promise<void>;
}

let server: http.Server;
let base: string;
const sockets: Seen[] = [];
const requests: { url: string; authorization: string | undefined; body: string }[] = [];

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/html' : 'application/json', ...headers });
  res.end(text);
}

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', authorization: req.headers.authorization, body });
      const path = (req.url ?? '').replace(/^\/prefix/, '');
      switch (path) {
        case '/ok':
          return send(res, 200, { n: 1, name: 'one' });
        case '/echo':
          return send(res, 201, { url: req.url, authorization: req.headers.authorization ?? null, body: body ? JSON.parse(body) : null });
        case '/empty':
          res.writeHead(204).end();
          return;
        case '/missing':
          return send(res, 404, { error: { code: 'not_found', message: 'No such thing.', requestId: 'req-404' } });
        case '/limited':
          return send(res, 429, { error: { code: 'rate_limited', message: 'Slow down.', retryAfterSeconds: 60 } }, { 'retry-after': '60', 'x-request-id': 'req-429' });
        case '/store-down':
          return send(res, 503, { error: { code: 'store_unavailable', message: 'The database is unreachable.' } }, { 'retry-after': '5', 'x-request-id': 'req-503' });
        case '/no-gateway':
          return send(res, 503, { error: { code: 'no_gateway_available', message: 'No gateway is online.' } });
        case '/bare-503':
          return send(res, 503, '<html>Service Unavailable</html>');
        case '/crash':
          return send(res, 500, { error: { code: 'internal', message: 'Something went wrong on our side.', requestId: 'req-500' } });
        case '/proxy-page':
          return send(res, 502, '<html>Bad Gateway</html>');
        case '/html':
          return send(res, 200, '<html>a captive portal</html>');
        case '/big':
          return send(res, 200, { blob: 'x'.repeat(2 * 1024 * 1024) });
        case '/moved':
          res.writeHead(301, { location: 'https://example.test/' }).end();
          return;
        case '/hang':
          return; // never answers: the client's timeout, abort or close ends it
        default:
          return send(res, 404, { error: 'Not Found' });
      }
    });
  });
  server.on('connection', (socket: Socket) => {
    // Not events.once: a reset socket also emits 'error', which would reject it.
    sockets.push({ socket, closed: new Promise((resolve) => socket.on('close', () => resolve())) });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
});

/** The rejection of `p`, which must reject. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('the call succeeded');
}

const Answer = Type.Object({ n: Type.Integer(), name: Type.String() }, { additionalProperties: false });

test('success: the answer is parsed and checked against its schema', async () => {
  const client = new HttpClient(base);
  try {
    const r = await client.call('GET', '/ok', { schema: Answer });
    assert.deepEqual(r, { n: 1, name: 'one' });
    assert.equal(await client.call('DELETE', '/empty'), null, 'an empty answer is null');
  } finally {
    client.close();
  }
});

test('a body is sent as JSON with the bearer token; a path prefix in the base URL is kept', async () => {
  const client = new HttpClient(`${base}/prefix/`);
  try {
    const r = await client.call<{ url: string; authorization: string; body: unknown }>('POST', '/echo', { body: { a: [1, 'b'] }, token: 'tok-123' });
    assert.deepEqual(r, { url: '/prefix/echo', authorization: 'Bearer tok-123', body: { a: [1, 'b'] } });
    await client.call('GET', '/ok');
    assert.equal(requests.at(-1)?.authorization, undefined, 'no token unless asked');
  } finally {
    client.close();
  }
});

test('an answer that does not match the schema is refused, naming where', async () => {
  const client = new HttpClient(`${base}/prefix`);
  try {
    const err = await rejection(client.call('GET', '/ok', { schema: Type.Object({ n: Type.String(), name: Type.String() }) }));
    assert.ok(err instanceof DammError && !(err instanceof Unreachable));
    assert.equal(err.code, 'internal');
    assert.match(err.message, /^The answer to GET \/ok does not match its schema \(\/n: /);
  } finally {
    client.close();
  }
});

test('a 4xx naming a code is a DammError with that code, its sentence, status, retry hint and request id', async () => {
  const client = new HttpClient(base);
  try {
    const missing = await rejection(client.call('GET', '/missing'));
    assert.ok(missing instanceof DammError && !(missing instanceof Unreachable));
    assert.equal(missing.code, 'not_found');
    assert.equal(missing.message, 'No such thing.');
    assert.deepEqual(missing.details, { status: 404, code: 'not_found', requestId: 'req-404' });
    const limited = await rejection(client.call('POST', '/limited', { body: {} }));
    assert.ok(limited instanceof DammError);
    assert.equal(limited.code, 'rate_limited');
    assert.deepEqual(limited.details, { status: 429, code: 'rate_limited', retryAfterSeconds: 60, requestId: 'req-429' });
    const bare = await rejection(client.call('GET', '/nowhere'));
    assert.ok(bare instanceof DammError);
    assert.equal(bare.code, 'internal', 'a 404 naming no code');
    assert.equal(bare.message, 'The service answered with status 404.');
    const moved = await rejection(client.call('GET', '/moved'));
    assert.ok(moved instanceof DammError);
    assert.match(moved.message, /redirects to https:\/\/example\.test\/; use the URL it redirects to/);
  } finally {
    client.close();
  }
});

test('a 503 store_unavailable with Retry-After is Unreachable (retry later) and keeps the hint; a 503 naming another refusal is an answer', async () => {
  const client = new HttpClient(base);
  try {
    const down = await rejection(client.call('GET', '/store-down'));
    assert.ok(down instanceof Unreachable);
    assert.equal(down.code, 'store_unavailable');
    assert.equal(down.status, 503);
    assert.equal(down.message, 'The database is unreachable.');
    assert.deepEqual(down.details, { status: 503, code: 'store_unavailable', retryAfterSeconds: 5, requestId: 'req-503' });
    const bare = await rejection(client.call('GET', '/bare-503'));
    assert.ok(bare instanceof Unreachable);
    assert.equal(bare.code, 'store_unavailable');
    const full = await rejection(client.call('POST', '/no-gateway', { body: {} }));
    assert.ok(full instanceof DammError && !(full instanceof Unreachable));
    assert.equal(full.code, 'no_gateway_available');
    assert.equal(full.message, 'No gateway is online.');
  } finally {
    client.close();
  }
});

test('a 500, or a proxy page with a 5xx, is Unreachable with the status', async () => {
  const client = new HttpClient(base);
  try {
    const crash = await rejection(client.call('GET', '/crash'));
    assert.ok(crash instanceof Unreachable);
    assert.equal(crash.status, 500);
    assert.equal(crash.code, 'internal');
    assert.equal(crash.message, 'Something went wrong on our side.');
    const proxy = await rejection(client.call('GET', '/proxy-page'));
    assert.ok(proxy instanceof Unreachable);
    assert.equal(proxy.status, 502);
    assert.equal(proxy.message, 'The service answered with status 502.');
  } finally {
    client.close();
  }
});

test('a success answer that is not JSON is refused', async () => {
  const client = new HttpClient(base);
  try {
    const err = await rejection(client.call('GET', '/html'));
    assert.ok(err instanceof DammError && !(err instanceof Unreachable));
    assert.equal(err.code, 'internal');
    assert.equal(err.message, 'The answer to GET /html is not JSON.');
  } finally {
    client.close();
  }
});

test('no server: Unreachable with no status, naming the call and the URL', async () => {
  const gone = http.createServer();
  gone.listen(0, '127.0.0.1');
  await once(gone, 'listening');
  const port = (gone.address() as AddressInfo).port;
  gone.close();
  await once(gone, 'close');
  const client = new HttpClient(`http://127.0.0.1:${port}`);
  try {
    const err = await rejection(client.call('GET', '/v1/x?secret=1'));
    assert.ok(err instanceof Unreachable);
    assert.equal(err.status, null);
    assert.equal(err.timedOut, false);
    assert.equal(err.code, 'store_unavailable');
    assert.match(err.message, new RegExp(`^GET /v1/x: no answer from http://127\\.0\\.0\\.1:${port}/ \\(.*ECONNREFUSED`));
  } finally {
    client.close();
  }
});

test('timeout: a call with no answer in time is Unreachable (timed out) and its connection is closed', async () => {
  const client = new HttpClient(base, { timeoutMs: 60_000 });
  try {
    const seen = sockets.length;
    const err = await rejection(client.call('GET', '/hang', { timeoutMs: 200 }));
    assert.ok(err instanceof Unreachable);
    assert.equal(err.timedOut, true);
    assert.equal(err.status, null);
    assert.match(err.message, /^GET \/hang: no answer from .* in 0\.2 s$/);
    assert.equal(sockets.length, seen + 1);
    await within(5000, 'the server sees the abandoned request\'s socket close', sockets[seen]!.closed);
  } finally {
    client.close();
  }
});

test('abort: the call rejects with the signal\'s reason, before or during the call', async () => {
  const client = new HttpClient(base);
  try {
    const early = new AbortController();
    early.abort(new Error('stopped before'));
    assert.equal(((await rejection(client.call('GET', '/ok', { signal: early.signal }))) as Error).message, 'stopped before');

    const seen = sockets.length;
    const abort = new AbortController();
    const pending = client.call('GET', '/hang', { signal: abort.signal });
    await until('the hanging request to reach the server', () => requests.some((r) => r.url === '/hang' && sockets.length > seen), 5000, 1);
    abort.abort(new Error('agent stopping'));
    assert.equal(((await rejection(pending)) as Error).message, 'agent stopping');
    await within(5000, 'the server sees the aborted call\'s socket close', sockets[seen]!.closed);
  } finally {
    client.close();
  }
});

test('oversize: an answer past the cap is refused', async () => {
  const client = new HttpClient(base, { maxResponseBytes: 1024 * 1024 });
  try {
    const err = await rejection(client.call('GET', '/big'));
    assert.ok(err instanceof DammError && !(err instanceof Unreachable));
    assert.equal(err.code, 'internal');
    assert.equal(err.message, 'The answer to GET /big is larger than 1048576 bytes.');
  } finally {
    client.close();
  }
  const roomy = new HttpClient(base, { maxResponseBytes: 4 * 1024 * 1024 });
  try {
    assert.equal(((await roomy.call('GET', '/big')) as { blob: string }).blob.length, 2 * 1024 * 1024, 'under the cap it is read whole');
  } finally {
    roomy.close();
  }
});

test('close() ends the connections: the idle keep-alive one and one with a call in flight', async () => {
  const client = new HttpClient(base);
  const seen = sockets.length;
  await client.call('GET', '/ok');
  assert.equal(sockets.length, seen + 1, 'one connection');
  await client.call('GET', '/ok');
  assert.equal(sockets.length, seen + 1, 'reused: keep-alive');
  const pending = rejection(client.call('GET', '/hang')); // takes the open connection
  await client.call('GET', '/ok'); // so this one opens a second, then leaves it idle
  assert.equal(sockets.length, seen + 2, 'a second connection');
  assert.equal(sockets[seen]!.socket.destroyed || sockets[seen + 1]!.socket.destroyed, false, 'both are open before close()');
  client.close();
  await within(5000, 'the server sees both sockets close', Promise.all([sockets[seen]!.closed, sockets[seen + 1]!.closed]));
  const err = await pending;
  assert.ok(err instanceof Unreachable, 'the call in flight fails as unreachable');
  assert.ok(await rejection(client.call('GET', '/ok')) instanceof Unreachable, 'later calls fail as unreachable');
});

test('the base URL must be http or https', () => {
  for (const bad of ['ftp://example.test', 'file:///etc/passwd', 'not a url', 'http://example.test/?x=1']) {
    assert.throws(() => new HttpClient(bad), (err: unknown) => err instanceof DammError && err.code === 'invalid_argument', bad);
  }
  new HttpClient('https://example.test/base').close();
});

