/**
 * WireGuard test material: real X25519 key pairs, preshared keys, peer sets,
 * a `wg` runner, and the conformance suite every backend must pass.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { wgKeyPair } from './keys.js';
import { before, it } from 'node:test';
import { DammError } from '../../src/core/errors.js';
import type { ApplyFailureDetails, InterfaceState, PeerSpec, WireGuardBackend } from '../../src/gateway/wireguard/backend.js';
import type { EncodedChange } from '../../src/gateway/wireguard/batch.js';
import { normalizePeerSpec, type NormalizedPeer } from '../../src/gateway/wireguard/peers.js';
import { runOk, WIREGUARD_GO, type NetnsKit, type UserspaceDaemon, type WireguardGoHandle } from './netns.js';
import type { AwgParams } from '../../src/core/amneziawg.js';
import { UapiClient } from '../../src/gateway/wireguard/uapi.js';
import { publicKeyToHex } from '../../src/gateway/wireguard/keys.js';

export interface KeyPair {
  privateKey: string; // base64
  publicKey: string; // base64
}

export const generateKeyPair: () => KeyPair = wgKeyPair;

export function generatePresharedKey(): string {
  return randomBytes(32).toString('base64');
}

/** The i-th host of 10.64.0.0/10 (i < 4,194,304), as a /32. */
export function hostIp(i: number): string {
  const n = (10 << 24) + (64 << 16) + i;
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/32`;
}

/** `n` peers with fresh public keys and distinct /32s starting at host `firstHost`. */
export function makePeers(n: number, firstHost = 1): PeerSpec[] {
  const peers: PeerSpec[] = [];
  for (let i = 0; i < n; i++) {
    // Random bytes are a valid public key for WireGuard's purposes and 30x cheaper than X25519 here.
    peers.push({ publicKey: randomBytes(32).toString('base64'), allowedIps: [hostIp(firstHost + i)] });
  }
  return peers;
}

/** Run the real `wg` tool (argument array; secrets on stdin). */
export function wg(args: readonly string[], stdin?: string): Promise<string> {
  return runOk(['wg', ...args], stdin === undefined ? {} : { stdin });
}

/** Sorted "publicKey allowedIps" lines, for comparing a read-back with a desired set. */
export function fingerprint(peers: ReadonlyArray<{ publicKey: string; allowedIps: string[] }>): string[] {
  return peers.map((p) => `${p.publicKey} ${[...p.allowedIps].sort().join(',')}`).sort();
}

// ---------------------------------------------------------------------------
// A conformance suite every WireGuard backend must pass against a real daemon.


export interface TestableBackend extends WireGuardBackend {
  applyEncoded(changes: EncodedChange[]): Promise<unknown>;
}

export interface BackendFixture {
  create(ifname: string): TestableBackend;
  encodeUpsert(spec: NormalizedPeer): EncodedChange;
  /** A line in the backend's dialect that WireGuard (or wg) refuses. */
  badLine: string;
  /** The daemon to run the suite against (default wireguard-go). */
  daemon?: UserspaceDaemon;
  /** AmneziaWG parameters every interface of the suite is configured with (amneziawg-go). */
  awg?: AwgParams;
}

export function stateFingerprint(state: InterfaceState): string[] {
  return fingerprint(state.peers);
}

/** Is `err` a DammError carrying ApplyFailureDetails? Returns the details. */
export function applyFailure(err: unknown): ApplyFailureDetails {
  assert.ok(err instanceof DammError, `expected DammError, got ${String(err)}`);
  const d = err.details as unknown as ApplyFailureDetails | undefined;
  assert.ok(d && Array.isArray(d.rejected) && Array.isArray(d.notApplied), 'error carries ApplyFailureDetails');
  return d;
}

/** Two namespaces joined by veth, a daemon in each configured by `create`; returns a ping from A to B's tunnel address. */
export async function pingThroughTunnel(
  kit: NetnsKit,
  create: (ifname: string) => WireGuardBackend,
  opts: { daemon?: UserspaceDaemon; awg?: AwgParams } = {},
): Promise<{
  ping: { code: number | null; stdout: string; stderr: string };
  client: InterfaceState;
  gateway: InterfaceState;
  clientKey: KeyPair;
}> {
  const nsA = await kit.namespace();
  const nsB = await kit.namespace();
  await kit.veth(nsA, '192.168.77.1/24', nsB, '192.168.77.2/24');
  const dA = await kit.startWireguardGo(nsA, undefined, opts.daemon ?? WIREGUARD_GO);
  const dB = await kit.startWireguardGo(nsB, undefined, opts.daemon ?? WIREGUARD_GO);
  const client = create(dA.ifname);
  const gateway = create(dB.ifname);
  const kA = generateKeyPair();
  const kB = generateKeyPair();
  const psk = generatePresharedKey();
  const awg = opts.awg ? { awg: opts.awg } : {};
  await client.configureInterface({ privateKey: kA.privateKey, listenPort: 51820, ...awg });
  await gateway.configureInterface({ privateKey: kB.privateKey, listenPort: 51821, ...awg });
  // The client dials; the gateway, like a real one, sets no endpoint and learns it from the handshake.
  await client.applyPeers({ upsert: [{ publicKey: kB.publicKey, allowedIps: ['10.77.0.2/32'], endpoint: '192.168.77.2:51821', presharedKey: psk }], remove: [] });
  await gateway.applyPeers({ upsert: [{ publicKey: kA.publicKey, allowedIps: ['10.77.0.1/32'], presharedKey: psk }], remove: [] });
  for (const [ns, d, addr] of [[nsA, dA, '10.77.0.1/24'], [nsB, dB, '10.77.0.2/24']] as const) {
    await runOk(['ip', '-n', ns, 'addr', 'add', addr, 'dev', d.ifname]);
    await runOk(['ip', '-n', ns, 'link', 'set', d.ifname, 'up']);
  }
  const ping = await kit.exec(nsA, ['ping', '-c', '1', '-W', '2', '10.77.0.2'], { timeoutMs: 10_000 });
  const result = { ping, client: await client.listPeers(), gateway: await gateway.listPeers(), clientKey: kA };
  await client.close();
  await gateway.close();
  return result;
}

/** The behaviour every backend shares, run against a real wireguard-go in a namespace. */
export function backendConformance(kit: NetnsKit, fixture: BackendFixture): void {
  let daemon: WireguardGoHandle;
  let backend: TestableBackend;
  let desired: PeerSpec[] = [];
  const iface = generateKeyPair();

  before(async () => {
    const ns = await kit.namespace();
    daemon = await kit.startWireguardGo(ns, undefined, fixture.daemon ?? WIREGUARD_GO);
    backend = fixture.create(daemon.ifname);
  });

  it('configures the interface: key and port read back, the private key never does', async () => {
    await backend.configureInterface({ privateKey: iface.privateKey, listenPort: 51820, ...(fixture.awg ? { awg: fixture.awg } : {}) });
    const state = await backend.listPeers();
    assert.equal(state.publicKey, iface.publicKey);
    assert.equal(state.listenPort, 51820);
    assert.deepEqual(state.awg, fixture.awg, 'AmneziaWG parameters read back exactly (none for WireGuard)');
    assert.deepEqual(state.peers, []);
    assert.ok(!JSON.stringify(state).includes(iface.privateKey));
  });

  it('adds one peer and reads it back canonicalised; an upsert sets the peer exactly', async () => {
    const psk = generatePresharedKey();
    const peer = generateKeyPair();
    await backend.applyPeers({
      upsert: [{ publicKey: peer.publicKey, allowedIps: ['10.1.2.3/24', 'FD00:0:0:0::5/64', '10.9.9.9'], presharedKey: psk, persistentKeepalive: 25, endpoint: '192.0.2.7:51820' }],
      remove: [],
    });
    let state = await backend.listPeers();
    assert.equal(state.peers.length, 1);
    const p = state.peers[0]!;
    assert.equal(p.publicKey, peer.publicKey);
    assert.deepEqual([...p.allowedIps].sort(), ['10.1.2.0/24', '10.9.9.9/32', 'fd00::/64']);
    assert.equal(p.persistentKeepalive, 25);
    assert.equal(p.endpoint, '192.0.2.7:51820');
    assert.equal(p.presharedKeyDigest, normalizePeerSpec({ publicKey: peer.publicKey, allowedIps: [], presharedKey: psk }).pskDigest);
    assert.equal(typeof p.rxBytes, 'bigint');
    assert.equal(typeof p.txBytes, 'bigint');
    assert.equal(p.lastHandshakeMs, 0);
    const json = JSON.stringify(state, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    assert.ok(!json.includes(psk) && !json.includes(Buffer.from(psk, 'base64').toString('hex')), 'read-back never carries the PSK');

    // Same key again without PSK/keepalive/IP: those are cleared, not merged; the endpoint is left alone.
    await backend.applyPeers({ upsert: [{ publicKey: peer.publicKey, allowedIps: ['10.1.3.0/24'] }], remove: [] });
    state = await backend.listPeers();
    assert.deepEqual(state.peers[0]!.allowedIps, ['10.1.3.0/24']);
    assert.equal(state.peers[0]!.presharedKeyDigest, undefined);
    assert.equal(state.peers[0]!.persistentKeepalive, 0);
    assert.equal(state.peers[0]!.endpoint, '192.0.2.7:51820');

    await backend.applyPeers({ upsert: [], remove: [peer.publicKey] });
    assert.deepEqual((await backend.listPeers()).peers, []);
  });

  it('our canonical spelling is the daemon\'s, so drift repair converges (tricky IPv6 included)', async () => {
    const spec: PeerSpec = {
      publicKey: generateKeyPair().publicKey,
      allowedIps: ['2001:db8:0:0:1:0:0:1/128', '2001:0:0:1:0:0:0:1/128', '::ffff:10.0.0.1/128', '64:ff9b::192.0.2.33/128', 'fe80::1:2:3:4/64', '0.0.0.0/0', '::/0'],
    };
    assert.deepEqual(await backend.replacePeers([spec]), { upserted: 1, removed: 0 });
    const state = await backend.listPeers();
    assert.deepEqual([...state.peers[0]!.allowedIps].sort(), [...normalizePeerSpec(spec).allowedIps].sort());
    assert.deepEqual(await backend.replacePeers([spec]), { upserted: 0, removed: 0 });
    await backend.replacePeers([]);
  });

  it('batch-adds 2,000 peers and reads back exactly that set', async () => {
    desired = makePeers(2000, 100);
    const summary = await backend.applyPeers({ upsert: desired, remove: [] });
    assert.deepEqual(summary, { upserted: 2000, removed: 0 });
    assert.deepEqual(stateFingerprint(await backend.listPeers()), fingerprint(desired));
  });

  it('removes a batch, and removing an absent peer is not an error', async () => {
    const gone = desired.slice(0, 500).map((p) => p.publicKey);
    await backend.applyPeers({ upsert: [], remove: [...gone, generateKeyPair().publicKey] });
    desired = desired.slice(500);
    assert.deepEqual(stateFingerprint(await backend.listPeers()), fingerprint(desired));
  });

  it('replacePeers repairs drift: a peer added by hand goes, one removed by hand returns, one edited is restored', async () => {
    const intruder = generateKeyPair().publicKey;
    const removed = desired[0]!;
    const edited = desired[1]!;
    if ((fixture.daemon ?? WIREGUARD_GO) === WIREGUARD_GO) {
      await wg(['set', daemon.ifname, 'peer', intruder, 'allowed-ips', '10.250.0.1/32']);
      await wg(['set', daemon.ifname, 'peer', removed.publicKey, 'remove']);
      await wg(['set', daemon.ifname, 'peer', edited.publicKey, 'allowed-ips', '10.250.0.2/32']);
    } else {
      // `wg` knows only /var/run/wireguard; other daemons are edited by hand with raw UAPI lines.
      const raw = new UapiClient({ socketPath: daemon.socketPath });
      assert.equal(await raw.set([`public_key=${publicKeyToHex(intruder)}`, 'allowed_ip=10.250.0.1/32']), 0);
      assert.equal(await raw.set([`public_key=${publicKeyToHex(removed.publicKey)}`, 'remove=true']), 0);
      assert.equal(await raw.set([`public_key=${publicKeyToHex(edited.publicKey)}`, 'replace_allowed_ips=true', 'allowed_ip=10.250.0.2/32']), 0);
    }
    assert.notDeepEqual(stateFingerprint(await backend.listPeers()), fingerprint(desired));

    assert.deepEqual(await backend.replacePeers(desired), { upserted: 2, removed: 1 });
    assert.deepEqual(stateFingerprint(await backend.listPeers()), fingerprint(desired));
    assert.deepEqual(await backend.replacePeers(desired), { upserted: 0, removed: 0 }, 'converged: nothing left to do');
  });

  it('refuses invalid input before touching the interface', async () => {
    const ok = makePeers(1, 9000)[0]!;
    const before = stateFingerprint(await backend.listPeers());
    for (const bad of [
      { upsert: [ok, { publicKey: generateKeyPair().publicKey, allowedIps: ['10.0.0.300/32'] }], remove: [] },
      { upsert: [ok, { publicKey: 'not-a-key', allowedIps: [] }], remove: [] },
      { upsert: [ok], remove: [ok.publicKey] },
      { upsert: [{ ...ok, persistentKeepalive: 70000 }], remove: [] },
      { upsert: [{ ...ok, presharedKey: 'short' }], remove: [] },
    ]) {
      await assert.rejects(backend.applyPeers(bad), (err: unknown) => err instanceof DammError && /invalid_/.test(err.code));
    }
    await assert.rejects(backend.configureInterface({ privateKey: 'x', listenPort: 1 }), (err: unknown) => err instanceof DammError && err.code === 'invalid_argument');
    assert.deepEqual(stateFingerprint(await backend.listPeers()), before);
  });

  it('a batch with one peer WireGuard refuses: the error names it, every other peer applies, and the backend stays usable', async () => {
    const batch = makePeers(300, 20_000).map((p) => fixture.encodeUpsert(normalizePeerSpec(p)));
    const victim = batch[137]!;
    victim.lines.splice(1, 0, fixture.badLine); // right after the key: the peer's settings never apply
    const started = Date.now();
    const err = await backend.applyEncoded(batch).then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    const details = applyFailure(err);
    assert.equal(details.rejected.length, 1);
    assert.equal(details.rejected[0]!.publicKey, victim.publicKey);
    assert.match((err as Error).message, new RegExp(victim.publicKey.replace(/[+/]/g, '\\$&')));
    assert.ok(details.notApplied.some((n) => n.publicKey === victim.publicKey));
    assert.equal(details.applied, 299);
    assert.ok(Date.now() - started < 15_000);

    const state = await backend.listPeers();
    const have = new Set(state.peers.map((p) => p.publicKey));
    for (const c of batch) if (c !== victim) assert.ok(have.has(c.publicKey), 'good peers applied');
    // Subsequent operations work and converge.
    assert.ok((await backend.replacePeers(desired)).removed >= 299);
    assert.deepEqual(stateFingerprint(await backend.listPeers()), fingerprint(desired));
  });

  it('serialises concurrent callers: both batches land and a later read sees both', async () => {
    const a = makePeers(700, 30_000);
    const b = makePeers(700, 40_000);
    const [ra, rb, seen] = await Promise.all([
      backend.applyPeers({ upsert: a, remove: [] }),
      backend.applyPeers({ upsert: b, remove: desired.slice(0, 10).map((p) => p.publicKey) }),
      backend.listPeers(),
    ]);
    assert.equal(ra.upserted, 700);
    assert.equal(rb.upserted, 700);
    // Queued third, so it ran after both writes, never between them.
    desired = [...desired.slice(10), ...a, ...b];
    assert.deepEqual(stateFingerprint(seen), fingerprint(desired));
    const [r1, r2] = await Promise.all([backend.replacePeers(desired.slice(100)), backend.replacePeers(desired)]);
    assert.deepEqual(r1, { upserted: 0, removed: 100 });
    assert.deepEqual(r2, { upserted: 100, removed: 0 });
    assert.deepEqual(stateFingerprint(await backend.listPeers()), fingerprint(desired));
  });

  it('a real packet crosses a tunnel configured by this backend; counters are bigint and non-zero', async () => {
    const { ping, client, gateway, clientKey } = await pingThroughTunnel(kit, fixture.create, {
      ...(fixture.daemon ? { daemon: fixture.daemon } : {}),
      ...(fixture.awg ? { awg: fixture.awg } : {}),
    });
    assert.equal(ping.code, 0, `ping failed: ${ping.stdout}${ping.stderr}`);
    const c = client.peers[0]!;
    const g = gateway.peers[0]!;
    assert.ok(c.txBytes > 0n && c.rxBytes > 0n && g.rxBytes > 0n && g.txBytes > 0n);
    assert.ok(c.lastHandshakeMs > Date.now() - 60_000 && c.lastHandshakeMs <= Date.now() + 1000);
    assert.equal(g.publicKey, clientKey.publicKey);
    assert.equal(g.endpoint, '192.168.77.1:51820', 'gateway learned the client endpoint by roaming');
  });

  it('close() refuses further calls', async () => {
    const b = fixture.create(daemon.ifname);
    await b.listPeers();
    await b.close();
    await assert.rejects(b.listPeers(), DammError);
  });
}
