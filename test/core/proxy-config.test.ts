import { test } from 'node:test';
import assert from 'node:assert/strict';
import { outlineWebSocketConfig, shadowsocksAccessKey, vlessShareLink } from '../../src/core/proxy-config.js';

const secret = 'Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo';

test('ss:// access key: SIP002 userinfo (base64url, unpadded), /?outline=1, name in the fragment', () => {
  const key = shadowsocksAccessKey({ host: 'gw1.example.net', port: 443, secret, name: 'DAMM · NL' });
  const userinfo = Buffer.from(`chacha20-ietf-poly1305:${secret}`).toString('base64url');
  assert.equal(key, `ss://${userinfo}@gw1.example.net:443/?outline=1#DAMM%20%C2%B7%20NL`);
  // Every Outline key with this cipher starts like the ones Outline Manager hands out.
  assert.match(key, /^ss:\/\/Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNT/);
  const u = new URL(key);
  assert.equal(Buffer.from(u.username, 'base64url').toString(), `chacha20-ietf-poly1305:${secret}`);
  assert.equal(u.hostname, 'gw1.example.net');
  assert.equal(u.port, '443');
  assert.equal(u.searchParams.get('outline'), '1');
  assert.equal(shadowsocksAccessKey({ host: '2001:db8::7', port: 8443, secret }), `ss://${userinfo}@[2001:db8::7]:8443/?outline=1`);
});

test('ss:// refuses bad hosts, ports and secrets', () => {
  for (const bad of [{ host: 'a b', port: 443, secret }, { host: 'x.net', port: 0, secret }, { host: 'x.net', port: 443, secret: 'short' }, { host: 'x.net', port: 443, secret: `${secret}@evil` }]) {
    assert.throws(() => shadowsocksAccessKey(bad), (e: any) => e.code === 'invalid_argument', JSON.stringify(bad));
  }
});

test('Outline dynamic key YAML for WebSocket: the tcpudp/shadowsocks/websocket shape of Outline\'s config reference', () => {
  const text = outlineWebSocketConfig({ host: 'door.example.net', tcpPath: '/k7Q/tcp', udpPath: '/k7Q/udp', secret });
  assert.equal(text, [
    'transport:',
    '  $type: tcpudp',
    '  tcp:',
    '    $type: shadowsocks',
    '    endpoint:',
    '      $type: websocket',
    '      url: "wss://door.example.net/k7Q/tcp"',
    '    cipher: chacha20-ietf-poly1305',
    `    secret: "${secret}"`,
    '  udp:',
    '    $type: shadowsocks',
    '    endpoint:',
    '      $type: websocket',
    '      url: "wss://door.example.net/k7Q/udp"',
    '    cipher: chacha20-ietf-poly1305',
    `    secret: "${secret}"`,
    '',
  ].join('\n'));
  assert.match(outlineWebSocketConfig({ host: 'door.example.net', port: 8443, tcpPath: '/t', udpPath: '/u', secret }), /url: "wss:\/\/door\.example\.net:8443\/t"/);
  assert.throws(() => outlineWebSocketConfig({ host: 'door.example.net', tcpPath: 'no-slash', udpPath: '/u', secret }), (e: any) => e.code === 'invalid_argument');
  assert.throws(() => outlineWebSocketConfig({ host: 'door.example.net', tcpPath: '/t"\n', udpPath: '/u', secret }), (e: any) => e.code === 'invalid_argument');
});

test('vless:// share link: the v2rayN/Xray share-link form for VLESS + WebSocket + TLS', () => {
  const uuid = 'b831381d-6324-4d53-ad4f-8cda48b30811';
  const link = vlessShareLink({ host: '203.0.113.9', port: 443, uuid, path: '/vl/ws', sni: 'door.example.net', name: 'DAMM NL' });
  assert.equal(
    link,
    `vless://${uuid}@203.0.113.9:443?encryption=none&security=tls&sni=door.example.net&fp=chrome&alpn=http%2F1.1&type=ws&host=door.example.net&path=%2Fvl%2Fws#DAMM%20NL`,
  );
  const u = new URL(link);
  assert.equal(u.username, uuid);
  assert.equal(u.searchParams.get('path'), '/vl/ws');
  assert.equal(u.searchParams.get('type'), 'ws');
  assert.equal(decodeURIComponent(u.hash.slice(1)), 'DAMM NL');
  assert.throws(() => vlessShareLink({ host: 'x.net', port: 443, uuid: 'not-a-uuid', path: '/p', sni: 'x.net' }), (e: any) => e.code === 'invalid_argument');
  assert.throws(() => vlessShareLink({ host: 'x.net', port: 443, uuid, path: '/p', sni: 'bad sni' }), (e: any) => e.code === 'invalid_argument');
});

test('ssconf:// dynamic key: a capability path derived from the secret alone', async () => {
  const { dynamicKeyPath, outlineDynamicKey } = await import('../../src/core/proxy-config.js');
  const { createHash } = await import('node:crypto');
  const expected = createHash('sha256').update('DAMM dynamic access key v1\0').update(secret).digest('base64url');
  assert.equal(dynamicKeyPath('/c', secret), `/c/${expected}`);
  assert.equal(outlineDynamicKey({ host: 'door.example.net', prefix: '/c', secret, name: 'DAMM T3' }), `ssconf://door.example.net/c/${expected}#DAMM%20T3`);
  assert.equal(outlineDynamicKey({ host: 'door.example.net', port: 8443, prefix: '/c', secret }), `ssconf://door.example.net:8443/c/${expected}`);
  assert.notEqual(dynamicKeyPath('/c', `${secret.slice(0, -1)}A`), dynamicKeyPath('/c', secret));
  assert.throws(() => dynamicKeyPath('c', secret), (e: any) => e.code === 'invalid_argument');
  assert.throws(() => dynamicKeyPath('/a/b', secret), (e: any) => e.code === 'invalid_argument');
});
