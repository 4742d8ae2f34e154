import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countersFromMetrics, keyIdsOfConfig, renderOutlineSsConfig } from '../../../src/gateway/proxies/outline-ss.js';

const users = [{ id: 'dev-a', secret: 'A'.repeat(43) }, { id: 'dev-b', secret: `${'b_-'.repeat(14)}Q` }];

test('config: one service, TCP+UDP on one port, chacha20-ietf-poly1305 keys; WebSocket listeners when asked', () => {
  const plain = JSON.parse(renderOutlineSsConfig({ address: '[::]:443' }, users));
  assert.deepEqual(plain, {
    services: [{
      listeners: [{ type: 'tcp', address: '[::]:443' }, { type: 'udp', address: '[::]:443' }],
      keys: [
        { id: 'dev-a', cipher: 'chacha20-ietf-poly1305', secret: 'A'.repeat(43) },
        { id: 'dev-b', cipher: 'chacha20-ietf-poly1305', secret: `${'b_-'.repeat(14)}Q` },
      ],
    }],
  });
  const ws = JSON.parse(renderOutlineSsConfig({ address: ':443', webSocket: { listen: '127.0.0.1:8081', tcpPath: '/x7/tcp', udpPath: '/x7/udp' } }, users));
  assert.deepEqual(ws.web, { servers: [{ id: 'damm', listen: ['127.0.0.1:8081'] }] });
  assert.deepEqual(ws.services[0].listeners.slice(2), [
    { type: 'websocket-stream', web_server: 'damm', path: '/x7/tcp' },
    { type: 'websocket-packet', web_server: 'damm', path: '/x7/udp' },
  ]);
  assert.deepEqual(keyIdsOfConfig(renderOutlineSsConfig({ address: ':443' }, users)), ['dev-a', 'dev-b']);
});

test('config: bad ids, secrets, duplicate ids and paths are refused with invalid_argument', () => {
  const bad = [
    [{ id: '', secret: 'A'.repeat(43) }],
    [{ id: 'a b', secret: 'A'.repeat(43) }],
    [{ id: 'a', secret: 'short' }],
    [{ id: 'a', secret: 'A'.repeat(44) }],
    [{ id: 'a', secret: `${'A'.repeat(41)}"\n` }],
    [{ id: 'a', secret: 'A'.repeat(43) }, { id: 'a', secret: 'B'.repeat(43) }],
  ];
  for (const u of bad) {
    assert.throws(
      () => renderOutlineSsConfig({ address: ':443' }, u),
      (e: any) => e.code === 'invalid_argument' && !u.some((x) => x.secret.length > 8 && e.message.includes(x.secret)),
      `${JSON.stringify(u)}: refused, and the error never repeats a secret`,
    );
  }
  assert.throws(() => renderOutlineSsConfig({ address: ':443', webSocket: { listen: '127.0.0.1:1', tcpPath: 'x', udpPath: '/y' } }, users), (e: any) => e.code === 'invalid_argument');
  assert.throws(() => renderOutlineSsConfig({ address: ':443', webSocket: { listen: '127.0.0.1:1', tcpPath: '/y', udpPath: '/y' } }, users), (e: any) => e.code === 'invalid_argument');
});

test('counters: client-side directions per key, TCP and UDP summed (text as v1.9.2 serves it)', () => {
  const text = [
    '# HELP shadowsocks_data_bytes Bytes transferred by the proxy, per access key',
    'shadowsocks_data_bytes{access_key="dev-a",dir="c<p",proto="tcp"} 200601',
    'shadowsocks_data_bytes{access_key="dev-a",dir="c>p",proto="tcp"} 182',
    'shadowsocks_data_bytes{access_key="dev-a",dir="p<t",proto="tcp"} 200127',
    'shadowsocks_data_bytes{access_key="dev-a",dir="p>t",proto="tcp"} 109',
    'shadowsocks_data_bytes{access_key="dev-a",dir="c>p",proto="udp"} 18',
    'shadowsocks_data_bytes_per_location{asn="",asorg="",dir="c<p",location="ZZ",proto="tcp"} 999',
    'shadowsocks_keys 2',
  ].join('\n');
  assert.deepEqual(countersFromMetrics(text), new Map([['dev-a', { rxBytes: 200n, txBytes: 200601n }]]));
});
