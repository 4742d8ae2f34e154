import { test } from 'node:test';
import assert from 'node:assert/strict';
import { place, type Candidate } from '../../src/core/placement.js';

const gw = (id: string, region: string, country: string, online = true, load = 0): Candidate => ({ gatewayId: id, name: id, region, country, online, drained: false, load, tiers: ['T0'] });

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

const drained = (c: Candidate): Candidate => ({ ...c, drained: true });

test('a drained gateway takes no new device, even when it is the least loaded', () => {
  const d = place({ region: 'NL' }, [drained(gw('a', 'NL', 'NL', true, 0)), gw('b', 'NL', 'NL', true, 50)]);
  assert.equal(d?.gatewayId, 'b');
  assert.equal(d?.honoured, true);
});

test('a region whose online gateways are all drained is substituted, and the reason says drained, not offline', () => {
  const d = place({ region: 'NL' }, [drained(gw('a', 'NL', 'NL')), gw('b', 'NL', 'NL', false), gw('c', 'DE', 'DE')]);
  assert.equal(d?.gatewayId, 'c');
  assert.equal(d?.honoured, false);
  assert.match(d!.reason, /every gateway for region NL that is online is closed to new devices \(drained for maintenance\)/);
  assert.match(d!.reason, /given DE \(exit DE\) instead/);
});

test('only drained gateways online means no placement', () => {
  assert.equal(place({}, [drained(gw('a', 'NL', 'NL')), gw('b', 'NL', 'NL', false)]), null);
});

test('with the load counting its own choices, a burst is dealt round-robin over equal gateways', () => {
  const load = new Map([['a', 0], ['b', 0], ['c', 0]]);
  for (let i = 0; i < 30; i++) {
    const d = place({ region: 'NL' }, [...load].map(([id, n]) => gw(id, 'NL', 'NL', true, n)))!;
    load.set(d.gatewayId, load.get(d.gatewayId)! + 1);
  }
  assert.deepEqual([...load.values()], [10, 10, 10]);
});
