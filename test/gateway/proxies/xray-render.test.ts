import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countersFromStats, renderXrayConfig, XRAY_INBOUND_TAG } from '../../../src/gateway/proxies/xray.js';

const users = [{ id: 'dev-a', secret: 'b831381d-6324-4d53-ad4f-8cda48b30811' }];

test('config: VLESS inbound over ws, API with HandlerService and StatsService, per-user stats on', () => {
  const c = JSON.parse(renderXrayConfig({ inbound: { listen: '127.0.0.1', port: 10443, path: '/vl' }, apiAddress: '127.0.0.1:10085' }, users));
  assert.deepEqual(c.api, { tag: 'api', listen: '127.0.0.1:10085', services: ['HandlerService', 'StatsService'] });
  assert.deepEqual(c.policy.levels['0'], { statsUserUplink: true, statsUserDownlink: true });
  const inb = c.inbounds[0];
  assert.equal(inb.tag, XRAY_INBOUND_TAG);
  assert.equal(inb.protocol, 'vless');
  assert.deepEqual(inb.settings, { clients: [{ id: users[0]!.secret, email: 'dev-a', level: 0 }], decryption: 'none' });
  assert.deepEqual(inb.streamSettings, { network: 'ws', wsSettings: { path: '/vl' }, security: 'none' });
  const tls = JSON.parse(renderXrayConfig({ inbound: { listen: '0.0.0.0', port: 443, path: '/vl', tls: { certificateFile: '/c.pem', keyFile: '/k.pem' } }, apiAddress: '127.0.0.1:10085' }, users));
  assert.equal(tls.inbounds[0].streamSettings.security, 'tls');
  assert.deepEqual(tls.inbounds[0].streamSettings.tlsSettings.certificates, [{ certificateFile: '/c.pem', keyFile: '/k.pem' }]);
});

test('config: bad UUIDs, ids, duplicates, paths and API addresses are refused', () => {
  const base = { inbound: { listen: '127.0.0.1', port: 10443, path: '/vl' }, apiAddress: '127.0.0.1:10085' };
  for (const u of [[{ id: 'a', secret: 'B831381D-6324-4D53-AD4F-8CDA48B30811' }], [{ id: 'a b', secret: users[0]!.secret }], [users[0]!, users[0]!]]) {
    assert.throws(() => renderXrayConfig(base, u), (e: any) => e.code === 'invalid_argument');
  }
  assert.throws(() => renderXrayConfig({ ...base, inbound: { ...base.inbound, path: 'vl' } }, users), (e: any) => e.code === 'invalid_argument');
  assert.throws(() => renderXrayConfig({ ...base, apiAddress: 'localhost' }, users), (e: any) => e.code === 'invalid_argument');
});

test('counters: uplink is from the device, downlink to it; int64 as string or number', () => {
  const json = JSON.stringify({
    stat: [
      { name: 'user>>>dev-a>>>traffic>>>uplink', value: '182' },
      { name: 'user>>>dev-a>>>traffic>>>downlink', value: 300601 },
      { name: 'user>>>dev-b>>>traffic>>>uplink' },
      { name: 'inbound>>>damm-vless>>>traffic>>>downlink', value: '9' },
    ],
  });
  assert.deepEqual(countersFromStats(json), new Map([['dev-a', { rxBytes: 182n, txBytes: 300601n }], ['dev-b', { rxBytes: 0n, txBytes: 0n }]]));
});
