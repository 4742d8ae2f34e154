/** The feed loop's retry wait: jittered doubling up to its cap, and an early end on a success or an abort. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, ReachableSignal } from '../../src/gateway/agent/retry-wait.js';

test('backoff doubles from its minimum to its cap, each wait between half and all of its step, and restarts on reset', () => {
  const low = new Backoff({ minMs: 500, maxMs: 5000 }, () => 0);
  const high = new Backoff({ minMs: 500, maxMs: 5000 }, () => 1);
  assert.deepEqual(Array.from({ length: 7 }, () => low.next()), [250, 500, 1000, 2000, 2500, 2500, 2500]);
  assert.deepEqual(Array.from({ length: 7 }, () => high.next()), [500, 1000, 2000, 4000, 5000, 5000, 5000]);
  high.reset();
  assert.equal(high.next(), 500);
});

test('a wait ends at the first success after the attempt began, or on abort; a success before it ends the next wait at once', async () => {
  const signal = new ReachableSignal();
  const abort = new AbortController();
  const since = signal.seen;
  const started = Date.now();
  const waiting = signal.wait(60_000, abort.signal, since);
  signal.succeeded();
  await waiting;
  assert.ok(Date.now() - started < 1000, 'woken by the success');

  // A success that came while the attempt was in flight (before the wait began) counts too.
  const before = signal.seen;
  signal.succeeded();
  await signal.wait(60_000, abort.signal, before);

  const aborted = signal.wait(60_000, abort.signal, signal.seen);
  abort.abort();
  await aborted;
  assert.ok(Date.now() - started < 1000, 'ended by the abort');
});
