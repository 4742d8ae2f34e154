/** UAPI backend against a real wireguard-go in a network namespace. Needs root; never skipped. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { DammError } from '../../src/core/errors.js';
import { encodeUapiUpsert, UapiBackend, UapiClient, uapiFailureOf } from '../../src/gateway/wireguard/uapi.js';
import { normalizePeerSpec } from '../../src/gateway/wireguard/peers.js';
import { useNetnsKit, type WireguardGoHandle } from '../helpers/netns.js';
import { applyFailure, backendConformance, fingerprint, generateKeyPair, makePeers, stateFingerprint } from '../helpers/wireguard.js';

const kit = useNetnsKit();
const create = (ifname: string): UapiBackend => new UapiBackend({ interfaceName: ifname, timeoutMs: 10_000 });

describe('UAPI backend: conformance', () => {
  backendConformance(kit, { create, encodeUpsert: encodeUapiUpsert, badLine: 'allowed_ip=10.0.0.300/32' });
});

describe('UAPI backend: protocol specifics', () => {
  let daemon: WireguardGoHandle;

  before(async () => {
    daemon = await kit.startWireguardGo(await kit.namespace());
    await create(daemon.ifname).configureInterface({ privateKey: generateKeyPair().privateKey, listenPort: 0 });
  });

  it('a raw bad set answers an errno, changes nothing after the bad line, and the next request works', async () => {
    const client = new UapiClient({ socketPath: daemon.socketPath, timeoutMs: 5000 });
    const [good, after] = makePeers(2, 500).map((p) => encodeUapiUpsert(normalizePeerSpec(p)));
    const errno = await client.set([...good!.lines, 'no_such_key=1', ...after!.lines]);
    assert.equal(errno, -22);
    // Not atomic: the peer before the bad line is in, the one after is not.
    const keys = new Set((await client.get()).peers.map((p) => p.publicKey));
    assert.ok(keys.has(good!.publicKey));
    assert.ok(!keys.has(after!.publicKey));
    assert.equal(await client.set([]), 0);
    await create(daemon.ifname).replacePeers([]);
  });

  it('raw requests from many concurrent callers are serialised by the client (none lost, none hangs)', async () => {
    const client = new UapiClient({ socketPath: daemon.socketPath, timeoutMs: 5000 });
    const peers = makePeers(40, 900).map((p) => encodeUapiUpsert(normalizePeerSpec(p)));
    const results = await Promise.all(peers.flatMap((p) => [client.set(p.lines), client.get().then((s) => s.peers.length)]));
    // Each get ran right after its own set, in call order: it sees exactly the peers set so far.
    assert.deepEqual(results, peers.flatMap((_, i) => [0, i + 1]));
    await create(daemon.ifname).replacePeers([]);
  });

  it('one bad peer inside a 5,000-peer request is isolated by bisection (about 2 log2 n requests), without hanging', async () => {
    const backend = create(daemon.ifname);
    const batch = makePeers(5000, 100_000).map((p) => encodeUapiUpsert(normalizePeerSpec(p)));
    batch[20]!.lines.splice(1, 0, 'allowed_ip=not-an-ip');
    const started = performance.now();
    const details = applyFailure(await backend.applyEncoded(batch).catch((e: unknown) => e));
    const ms = performance.now() - started;
    assert.deepEqual(details.rejected.map((r) => r.publicKey), [batch[20]!.publicKey]);
    assert.equal(details.applied, 4999);
    assert.equal((await backend.listPeers()).peers.length, 5000, 'the victim exists, half-configured, and is reported in notApplied');
    assert.ok(ms < 20_000, `isolation took ${ms} ms`);
    await backend.replacePeers([]);
  });

  it('a hung daemon makes a request fail after the timeout; the queue carries on once it answers again', async () => {
    const backend = new UapiBackend({ interfaceName: daemon.ifname, timeoutMs: 300 });
    process.kill(daemon.pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const [a, b] = await Promise.allSettled([backend.listPeers(), backend.applyPeers({ upsert: makePeers(10, 700), remove: [] })]);
      assert.equal(a.status, 'rejected');
      assert.equal(uapiFailureOf((a as PromiseRejectedResult).reason), 'timeout');
      assert.equal(b.status, 'rejected', 'the queued call times out too rather than waiting forever');
      assert.ok(Date.now() - started < 3000);
    } finally {
      process.kill(daemon.pid, 'SIGCONT');
    }
    assert.ok(Array.isArray((await backend.listPeers()).peers));
    await backend.replacePeers([]);
  });

  it('an absent socket fails fast as unreachable', async () => {
    const backend = new UapiBackend({ interfaceName: 'dwnosuchif', socketDir: '/nonexistent' });
    const err = await backend.listPeers().catch((e: unknown) => e);
    assert.ok(err instanceof DammError);
    assert.equal(uapiFailureOf(err), 'unreachable');
  });

  it('measures 10,000 peers: one request vs chunks (diagnostic)', async (t) => {
    const peers = makePeers(10_000, 200_000);
    const results: string[] = [];
    for (const chunk of [10_000, 5000, 1000]) {
      const backend = new UapiBackend({ interfaceName: daemon.ifname, maxPeersPerRequest: chunk });
      let t0 = performance.now();
      await backend.applyPeers({ upsert: peers, remove: [] });
      const apply = performance.now() - t0;
      t0 = performance.now();
      const state = await backend.listPeers();
      const get = performance.now() - t0;
      assert.deepEqual(stateFingerprint(state), fingerprint(peers));
      t0 = performance.now();
      const noop = await backend.replacePeers(peers);
      const diff = performance.now() - t0;
      assert.deepEqual(noop, { upserted: 0, removed: 0 });
      t0 = performance.now();
      await backend.replacePeers([]);
      const clear = performance.now() - t0;
      results.push(`chunk=${chunk}: apply ${apply.toFixed(0)} ms, get ${get.toFixed(0)} ms, no-op replace ${diff.toFixed(0)} ms, remove all ${clear.toFixed(0)} ms`);
    }
    for (const r of results) t.diagnostic(r);
  });
});
