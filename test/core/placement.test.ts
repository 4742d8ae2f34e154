import { test } from 'node:test';
import assert from 'node:assert/strict';
import { place, type Candidate } from '../../src/core/placement.js';

const gw = (id: string, region: string, country: string, online = true, load = 0): Candidate => ({ gatewayId: id, name: id, region, country, online, load, tiers: ['T0'] });

test('a request that can be honoured is honoured, on the least loaded gateway', () => {
  const d = place({ region: 'NL', exitCountry: 'NL' }, [gw('a', 'NL', 'NL', true, 5), gw('b', 'NL', 'NL', true, 1), gw('c', 'DE', 'DE')]);
  assert.equal(d?.gatewayId, 'b');
  assert.equal(d?.honoured, true);
  assert.match(d!.reason, /As requested/);
});

test('an offline exit is substituted and the reason says so', () => {
  const d = place({ exitCountry: 'NL' }, [gw('a', 'NL', 'NL', false), gw('c', 'DE', 'DE')]);
  assert.equal(d?.gatewayId, 'c');
  assert.equal(d?.honoured, false);
  assert.match(d!.reason, /every gateway for exit NL is offline/);
  assert.match(d!.reason, /DE/);
});

test('an unknown region is named as unknown, not as offline', () => {
  const d = place({ region: 'JP' }, [gw('c', 'DE', 'DE')]);
  assert.equal(d?.honoured, false);
  assert.match(d!.reason, /no gateway for region JP/);
});

test('the exit country is kept when only the region cannot be honoured', () => {
  const d = place({ region: 'eu-west', exitCountry: 'DE' }, [gw('a', 'eu-central', 'DE'), gw('b', 'eu-west', 'FR')]);
  assert.equal(d?.gatewayId, 'a');
  assert.equal(d?.honoured, false);
});

test('no gateway online means no placement', () => {
  assert.equal(place({}, [gw('a', 'NL', 'NL', false)]), null);
  assert.equal(place({}, []), null);
});
