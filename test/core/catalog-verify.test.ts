/**
 * The hand-written catalog shape check (no TypeBox, so it runs in the wizard)
 * must accept and refuse exactly what the CatalogPayload schema does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import '../../src/core/formats.js';
import { CatalogPayload } from '../../src/core/api-schemas.js';
import { generateSigningKey } from '../../src/core/envelope.js';
import { isCatalogPayload, signCatalog, verifyCatalog } from '../../src/core/catalog.js';
import { rootTrusting } from '../helpers/trust-fixtures.js';
import { toBase64 } from '../../src/core/bytes.js';

const door = {
  id: 'gw-nl-1-T0',
  gatewayId: '4b7d0e0a-6a4e-4c1b-9a53-0b1f2d3c4e5f',
  region: 'NL',
  country: 'NL',
  tier: 'T0',
  endpoint: '192.0.2.10:51820',
  publicKey: toBase64(new Uint8Array(32).fill(7)),
  protocol: 'wireguard',
  params: null,
  tunnel: { ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd0d:a44d:66::/64' },
};
const awgParams = { jc: 4, jmin: 40, jmax: 70, s1: 15, s2: 23, s3: 9, s4: 4, h1: '1020304', h2: '2000000-2000100', h3: '3000000', h4: '4000000-4100000', i1: null };
const awgDoor = {
  ...door,
  id: 'b',
  tier: 'T1',
  publicKey: toBase64(new Uint8Array(32).fill(9)),
  protocol: 'amneziawg',
  params: awgParams,
  tunnel: { ipv4Cidr: '10.67.0.0/16', ipv6Prefix: 'fd0d:a44d:67::/64' },
};
const good = { version: 3, issuedAt: '2026-06-01T00:00:00.000Z', expiresAt: '2026-06-08T00:00:00Z', frontDoors: [door, awgDoor] };

type Mut = [string, (c: any) => void];
const mutations: Mut[] = [
  ['unchanged', () => {}],
  ['no doors', (c) => (c.frontDoors = [])],
  ['extra top-level field', (c) => (c.extra = 1)],
  ['missing version', (c) => delete c.version],
  ['version 0', (c) => (c.version = 0)],
  ['version fractional', (c) => (c.version = 1.5)],
  ['version as string', (c) => (c.version = '3')],
  ['version huge integer', (c) => (c.version = 2 ** 53)],
  ['issuedAt not a date-time', (c) => (c.issuedAt = '2026-06-01')],
  ['issuedAt impossible date', (c) => (c.issuedAt = '2026-13-45T00:00:00Z')],
  ['expiresAt with offset', (c) => (c.expiresAt = '2026-06-08T00:00:00+02:00')],
  ['expiresAt number', (c) => (c.expiresAt = 1)],
  ['frontDoors not an array', (c) => (c.frontDoors = {})],
  ['frontDoors null', (c) => (c.frontDoors = null)],
  ['door extra field', (c) => (c.frontDoors[0].x = 'y')],
  ['door missing endpoint', (c) => delete c.frontDoors[0].endpoint],
  ['door bad uuid', (c) => (c.frontDoors[0].gatewayId = 'nope')],
  ['door uppercase uuid', (c) => (c.frontDoors[0].gatewayId = door.gatewayId.toUpperCase())],
  ['door unknown tier', (c) => (c.frontDoors[1].tier = 'T9')],
  ['door tier lower case', (c) => (c.frontDoors[1].tier = 't0')],
  ['door key too short', (c) => (c.frontDoors[0].publicKey = door.publicKey.slice(1))],
  ['door key bad last char', (c) => (c.frontDoors[0].publicKey = door.publicKey.slice(0, 42) + 'B=')],
  ['door key with newline', (c) => (c.frontDoors[0].publicKey = door.publicKey + '\n')],
  ['door region number', (c) => (c.frontDoors[0].region = 1)],
  ['door null', (c) => (c.frontDoors[0] = null)],
  ['door array', (c) => (c.frontDoors[0] = [])],
  ['door unknown protocol', (c) => (c.frontDoors[0].protocol = 'openvpn')],
  ['door protocol missing', (c) => delete c.frontDoors[0].protocol],
  ['door params missing', (c) => delete c.frontDoors[0].params],
  ['door params a string', (c) => (c.frontDoors[1].params = 'jc=4')],
  ['door params extra key', (c) => (c.frontDoors[1].params.i2 = null)],
  ['door params missing key', (c) => delete c.frontDoors[1].params.s4],
  ['door params fractional', (c) => (c.frontDoors[1].params.jc = 4.5)],
  ['door params negative allowed by the shape', (c) => (c.frontDoors[1].params.s1 = -1)],
  ['door params integer as string', (c) => (c.frontDoors[1].params.jmin = '40')],
  ['door params header not a number', (c) => (c.frontDoors[1].params.h1 = 'abc')],
  ['door params header open range', (c) => (c.frontDoors[1].params.h2 = '5-')],
  ['door params header as number', (c) => (c.frontDoors[1].params.h3 = 3000000)],
  ['door params header 11 digits', (c) => (c.frontDoors[1].params.h4 = '12345678901')],
  ['door params i1 a string', (c) => (c.frontDoors[1].params.i1 = '<r 16>')],
  ['door params i1 256 chars', (c) => (c.frontDoors[1].params.i1 = 'x'.repeat(256))],
  ['door params i1 257 chars', (c) => (c.frontDoors[1].params.i1 = 'x'.repeat(257))],
  ['door params i1 a number', (c) => (c.frontDoors[1].params.i1 = 1)],
  ['door tunnel missing', (c) => delete c.frontDoors[0].tunnel],
  ['door tunnel null', (c) => (c.frontDoors[0].tunnel = null)],
  ['door tunnel extra key', (c) => (c.frontDoors[0].tunnel.gatewayIpv4 = '10.66.0.1')],
  ['door tunnel prefix a number', (c) => (c.frontDoors[0].tunnel.ipv4Cidr = 10)],
  ['door tunnel missing ipv6', (c) => delete c.frontDoors[1].tunnel.ipv6Prefix],
  ['empty strings allowed where the schema allows them', (c) => Object.assign(c.frontDoors[0], { id: '', region: '', country: '', endpoint: '' })],
];

for (const [name, mutate] of mutations) {
  test(`lean catalog check agrees with the CatalogPayload schema: ${name}`, () => {
    const c = structuredClone(good);
    mutate(c);
    const viaJson = JSON.parse(JSON.stringify(c));
    assert.equal(isCatalogPayload(viaJson), Value.Check(CatalogPayload, viaJson));
  });
}

test('lean catalog check agrees with the schema on values that are not objects', () => {
  for (const v of [null, [], [good], 'catalog', 3, true]) assert.equal(isCatalogPayload(v), Value.Check(CatalogPayload, v));
});

test('the valid catalog passes both checks (so the agreements above are not all "false")', () => {
  assert.equal(isCatalogPayload(good), true);
  assert.equal(Value.Check(CatalogPayload, good), true);
});

test('verifyCatalog refuses a correctly signed payload of the wrong shape', () => {
  const key = generateSigningKey();
  const env = signCatalog({ ...good, frontDoors: [{ ...door, tier: 'T9' }] } as any, [key]);
  assert.throws(
    () => verifyCatalog(env, rootTrusting(key), { now: new Date('2026-06-02T00:00:00Z') }),
    (e: any) => e.code === 'record_invalid' && /catalog shape/.test(e.message),
  );
});
