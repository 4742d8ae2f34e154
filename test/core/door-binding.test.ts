/** bindFrontDoor: the config's endpoint and gateway key come from the verified catalog's door, or nothing is rendered. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bindFrontDoor } from '../../src/core/door-binding.js';
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
