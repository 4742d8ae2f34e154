/** bindFrontDoor / bindEnrolledDoors: the config's endpoint and gateway key come from the verified catalog's door, or nothing is rendered. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bindEnrolledDoors, bindFrontDoor } from '../../src/core/door-binding.js';
import { renderDoorConfig } from '../../src/core/door-config.js';
import type { FrontDoor } from '../../src/core/api-schemas.js';
import { generateAwgParams } from '../../src/core/amneziawg.js';
import { randomBytes } from 'node:crypto';
import { DammError } from '../../src/core/errors.js';
import { DOOR } from '../helpers/trust-fixtures.js';

const other = { ...DOOR, id: `${DOOR.id}-b`, endpoint: 'gw.example:443' };
const refusal = (reason: string, words: RegExp) => (e: unknown) =>
  e instanceof DammError && e.code === 'record_invalid' && e.details?.reason === reason && words.test(e.message);

test('the catalog entry is returned for the id the answer names (the catalog object, not the answer)', () => {
  const bound = bindFrontDoor({ ...DOOR }, [other, DOOR]);
  assert.equal(bound, DOOR);
  assert.equal(bindFrontDoor({ id: DOOR.id }, [DOOR]), DOOR, 'an answer carrying only the id is enough');
});

test('a door the catalog does not hold is refused in words', () => {
  assert.throws(() => bindFrontDoor({ ...DOOR, id: 'evil' }, [DOOR]), refusal('door_not_in_catalog', /not on its signed gateway list/));
  assert.throws(() => bindFrontDoor({ ...DOOR }, []), refusal('door_not_in_catalog', /signed gateway list/));
});

test('an answer describing the door differently from the catalog is refused, naming what differs', () => {
  assert.throws(() => bindFrontDoor({ ...DOOR, endpoint: '203.0.113.66:51820' }, [DOOR]), refusal('door_mismatch', /address differently/));
  assert.throws(() => bindFrontDoor({ ...DOOR, publicKey: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' }, [DOOR]), refusal('door_mismatch', /key differently/));
  assert.throws(() => bindFrontDoor({ ...DOOR, gatewayId: '00000000-0000-4000-8000-000000000000' }, [DOOR]), refusal('door_mismatch', /gateway differently/));
});

// --- every door of the enroll answer (bindEnrolledDoors) ---

/** Lane 1 of the same gateway: its own key, port and prefixes (10.8.0.0/16 shifted by one block). */
const LANE1: FrontDoor = {
  ...DOOR,
  id: `${DOOR.gatewayId}/T0/51821`,
  endpoint: 'gw.example:51821',
  publicKey: 'CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=',
  tunnel: { ipv4Cidr: '10.9.0.0/16', ipv6Prefix: 'fd00:0:0:1::/64' },
};
const answer = () => ({
  frontDoor: { ...DOOR },
  doors: [
    { id: LANE1.id, addresses: { ipv4: '10.9.0.7', ipv6: 'fd00:0:0:1::7' } },
    { id: DOOR.id, addresses: { ipv4: '10.8.0.7', ipv6: 'fd00::7' } },
  ],
});

test('every door the answer names binds to its catalog entry, the primary first, with the addresses of its lane', () => {
  const bound = bindEnrolledDoors(answer(), [LANE1, DOOR, other]);
  assert.deepEqual(bound.map((b) => b.door), [DOOR, LANE1]);
  assert.equal(bound[0]!.door, DOOR, 'the catalog object itself');
  assert.deepEqual(bound[1]!.addresses, { ipv4: '10.9.0.7', ipv6: 'fd00:0:0:1::7' });
});

test('a door id missing from the catalog is refused', () => {
  const a = answer();
  a.doors[0]!.id = `${DOOR.gatewayId}/T1/4443`;
  assert.throws(() => bindEnrolledDoors(a, [LANE1, DOOR]), refusal('door_not_in_catalog', /signed gateway list/));
});

test("addresses outside the door's signed tunnel are refused, also lane 0's addresses on lane 1", () => {
  for (const addresses of [
    { ipv4: '10.8.0.7', ipv6: 'fd00::7' }, // lane 0's addresses named for lane 1: another interface's address
    { ipv4: '10.9.0.7', ipv6: 'fd00::7' },
    { ipv4: '10.9.0.1', ipv6: 'fd00:0:0:1::1' }, // the gateway's own address
    { ipv4: '10.9.0.7', ipv6: 'fd00:0:0:1::8' }, // two offsets
    { ipv4: '192.0.2.7', ipv6: 'fd00:0:0:1::7' },
    { ipv4: 'x', ipv6: 'y' },
  ]) {
    const a = answer();
    a.doors[0]!.addresses = addresses;
    assert.throws(() => bindEnrolledDoors(a, [LANE1, DOOR]), refusal('address_outside_door', /outside the door's signed tunnel/), JSON.stringify(addresses));
  }
});

test("a door of another gateway, or an answer without its primary door among the doors, is refused", () => {
  const foreign: FrontDoor = { ...LANE1, gatewayId: '00000000-0000-4000-8000-000000000000' };
  assert.throws(() => bindEnrolledDoors(answer(), [foreign, DOOR]), refusal('door_mismatch', /another gateway/));
  const a = answer();
  a.doors = [a.doors[0]!];
  assert.throws(() => bindEnrolledDoors(a, [LANE1, DOOR]), refusal('door_not_in_catalog', /primary door/));
});

test('an answer whose door copy differs in protocol, params or tunnel is refused', () => {
  assert.throws(() => bindFrontDoor({ ...DOOR, protocol: 'amneziawg' }, [DOOR]), refusal('door_mismatch', /differently/));
  assert.throws(() => bindFrontDoor({ ...DOOR, tunnel: { ipv4Cidr: '10.9.0.0/16', ipv6Prefix: 'fd00::/64' } }, [DOOR]), refusal('door_mismatch', /differently/));
  // The same values in another key order are the same door.
  assert.equal(bindFrontDoor({ ...DOOR, tunnel: { ipv6Prefix: 'fd00::/64', ipv4Cidr: '10.8.0.0/16' } }, [DOOR]), DOOR);
});

test("renderDoorConfig takes the key and endpoint from the door, and the Address from that door's lane", () => {
  const [, lane1] = bindEnrolledDoors(answer(), [LANE1, DOOR]);
  const conf = renderDoorConfig(lane1!.door, { privateKey: 'EBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBA=', addresses: lane1!.addresses, dns: ['10.9.0.1'] });
  assert.match(conf, /^Address = 10\.9\.0\.7\/32, fd00:0:0:1::7\/128$/m);
  assert.match(conf, /^PublicKey = CQkJ/m);
  assert.match(conf, /^Endpoint = gw\.example:51821$/m);
  // An AmneziaWG door: the same WireGuard config plus the door's parameters, spelt as the AmneziaWG apps read them.
  const params = generateAwgParams((n) => new Uint8Array(randomBytes(n)));
  const awg = renderDoorConfig({ ...LANE1, protocol: 'amneziawg', tier: 'T1', params }, { privateKey: 'EBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBA=', addresses: lane1!.addresses, dns: [] });
  assert.match(awg, new RegExp(`^Jc = ${params.jc}$`, 'm'));
  assert.match(awg, new RegExp(`^H1 = ${params.h1}$`, 'm'));
  assert.match(awg, /^Address = 10\.9\.0\.7\/32, fd00:0:0:1::7\/128$/m);
  // A door whose protocol and parameters disagree gets no config.
  const key = 'EBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBA=';
  assert.throws(() => renderDoorConfig({ ...LANE1, protocol: 'amneziawg', params: null }, { privateKey: key, addresses: lane1!.addresses, dns: [] }), (e: unknown) => e instanceof DammError && e.code === 'invalid_argument');
  assert.throws(() => renderDoorConfig({ ...LANE1, params }, { privateKey: key, addresses: lane1!.addresses, dns: [] }), (e: unknown) => e instanceof DammError && e.code === 'invalid_argument');
});
