import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DynamicKeyServer } from '../../../src/gateway/proxies/dynamic-key-server.js';
import { dynamicKeyPath, outlineWebSocketConfig } from '../../../src/core/proxy-config.js';

const door = { host: 'door.example.net', prefix: '/c', tcpPath: '/w/tcp', udpPath: '/w/udp' };
const a = { id: 'dev-a', secret: randomBytes(32).toString('base64url') };
const b = { id: 'dev-b', secret: randomBytes(32).toString('base64url') };
const server = new DynamicKeyServer(door);
const { port } = await server.listen('127.0.0.1', 0);
after(() => server.close());
const get = (path: string, method = 'GET') => fetch(`http://127.0.0.1:${port}${path}`, { method });

test('each held device gets its own YAML at its capability path, uncached', async () => {
  server.set([a, b]);
  const r = await get(dynamicKeyPath('/c', a.secret));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/yaml; charset=utf-8');
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.equal(await r.text(), outlineWebSocketConfig({ host: door.host, tcpPath: door.tcpPath, udpPath: door.udpPath, secret: a.secret }));
  assert.match(await (await get(dynamicKeyPath('/c', b.secret))).text(), new RegExp(`secret: "${b.secret}"`));
});

test('unknown paths, the prefix itself, other methods and removed devices get nothing', async () => {
  server.set([a, b]);
  for (const p of ['/', '/c', '/c/', `/c/${'A'.repeat(43)}`, door.tcpPath, dynamicKeyPath('/x', a.secret)]) assert.equal((await get(p)).status, 404, p);
  assert.equal((await get(dynamicKeyPath('/c', a.secret), 'POST')).status, 405);
  server.set([b]);
  assert.equal((await get(dynamicKeyPath('/c', a.secret))).status, 404, 'a was removed');
  assert.equal((await get(dynamicKeyPath('/c', b.secret))).status, 200);
  assert.throws(() => server.set([b, { id: 'bad', secret: 'short' }]), (e: any) => e.code === 'invalid_argument');
  assert.equal(server.size, 1, 'a refused set changes nothing');
});
