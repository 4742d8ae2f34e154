/** Pure parts of the WireGuard backends, plus the UAPI client against fake daemons. No root needed. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DammError } from '../../src/core/errors.js';
import PQueue from 'p-queue';
import { sendIsolating } from '../../src/gateway/wireguard/batch.js';
import { canonicalEndpoint, canonicalPrefix } from '../../src/core/ip.js';
import { diffPeers, normalizeChanges, normalizeDesired } from '../../src/gateway/wireguard/peers.js';
import { parseUapiGet, UapiClient, uapiFailureOf } from '../../src/gateway/wireguard/uapi.js';
import { parseWgDump } from '../../src/gateway/wireguard/wg-tool.js';
import { generateKeyPair } from '../helpers/wireguard.js';

describe('canonical prefixes and endpoints', () => {
  it('canonicalises like Go netip (masked, RFC 5952)', () => {
    const cases: Array<[string, string]> = [
      ['10.1.2.3/24', '10.1.2.0/24'],
      ['10.0.0.1', '10.0.0.1/32'],
      ['0.0.0.0/0', '0.0.0.0/0'],
      ['FD00:0:0:0::5/64', 'fd00::/64'],
      ['::/0', '::/0'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1/128'],
      ['2001:0:0:1:0:0:0:1/128', '2001:0:0:1::1/128'],
      ['2001:db8:0:1:1:1:1:1/128', '2001:db8:0:1:1:1:1:1/128'],
      ['::ffff:10.0.0.1/128', '::ffff:10.0.0.1/128'],
      ['64:ff9b::192.0.2.33/128', '64:ff9b::c000:221/128'],
      ['fe80::1:2:3:4/64', 'fe80::/64'],
      ['2001:db8::7/127', '2001:db8::6/127'],
    ];
    for (const [input, want] of cases) assert.equal(canonicalPrefix(input), want, input);
  });

  it('refuses what WireGuard would refuse or misread', () => {
    for (const bad of ['010.0.0.1/32', '1.2.3.4/33', '1.2.3', '1.2.3.4.5', '256.0.0.1', 'fe80::1%eth0/64', '1:2:3:4:5:6:7:8:9', '1::2::3', ':1::', '', ' 10.0.0.1/32', '10.0.0.1/08', '10.0.0.1/', '::/129', 'example.com/32']) {
      assert.equal(canonicalPrefix(bad), null, bad);
    }
  });

  it('endpoints are IP literals with a port', () => {
    assert.equal(canonicalEndpoint('192.0.2.1:51820'), '192.0.2.1:51820');
    assert.equal(canonicalEndpoint('[2001:DB8:0::1]:51820'), '[2001:db8::1]:51820');
    for (const bad of ['192.0.2.1', '2001:db8::1:51820', 'vpn.example:51820', '192.0.2.1:0', '192.0.2.1:65536', '[2001:db8::1]51820']) {
      assert.equal(canonicalEndpoint(bad), null, bad);
    }
  });
});

describe('validation and diff', () => {
  const a = generateKeyPair().publicKey;
  const b = generateKeyPair().publicKey;

  it('a key may appear once per batch', () => {
    assert.throws(() => normalizeChanges({ upsert: [{ publicKey: a, allowedIps: [] }], remove: [a] }), DammError);
    assert.throws(() => normalizeChanges({ upsert: [], remove: [a, a] }), DammError);
    assert.throws(() => normalizeDesired([{ publicKey: a, allowedIps: [] }, { publicKey: a, allowedIps: [] }]), DammError);
  });

  it('diff upserts what differs and removes what is not desired', () => {
    const desired = normalizeDesired([
      { publicKey: a, allowedIps: ['10.0.0.1/32', '10.0.0.2/32'] },
      { publicKey: b, allowedIps: ['10.0.0.3/32'], persistentKeepalive: 25 },
    ]);
    const stray = generateKeyPair().publicKey;
    const base = { lastHandshakeMs: 0, rxBytes: 0n, txBytes: 0n, persistentKeepalive: 0 };
    const diff = diffPeers(desired, {
      listenPort: 1,
      peers: [
        { ...base, publicKey: a, allowedIps: ['10.0.0.2/32', '10.0.0.1/32'] }, // same set, other order
        { ...base, publicKey: b, allowedIps: ['10.0.0.3/32'] }, // keepalive differs
        { ...base, publicKey: stray, allowedIps: [] },
      ],
    });
    assert.deepEqual(diff.upsert.map((p) => p.publicKey), [b]);
    assert.deepEqual(diff.remove, [stray]);
  });
});

describe('read-back parsers', () => {
  const k = generateKeyPair();
  const hex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex');

  it('parses a full UAPI get, counters as bigint beyond 2^53', () => {
    const state = parseUapiGet([
      `private_key=${hex(k.privateKey)}`,
      'listen_port=51820',
      'fwmark=0',
      `public_key=${hex(k.publicKey)}`,
      `preshared_key=${'0'.repeat(64)}`,
      'protocol_version=1',
      'endpoint=[2001:db8::1]:51820',
      'last_handshake_time_sec=1700000000',
      'last_handshake_time_nsec=123456789',
      'tx_bytes=18446744073709551615',
      'rx_bytes=9007199254740993',
      'persistent_keepalive_interval=25',
      'allowed_ip=10.0.0.0/24',
      'allowed_ip=fd00::/64',
      'jc=4', // an AmneziaWG field: ignored
      `public_key=${hex(generateKeyPair().publicKey)}`,
      `preshared_key=${'ab'.repeat(32)}`,
    ]);
    assert.equal(state.publicKey, k.publicKey);
    assert.equal(state.listenPort, 51820);
    assert.equal(state.peers.length, 2);
    const p = state.peers[0]!;
    assert.equal(p.txBytes, 18446744073709551615n);
    assert.equal(p.rxBytes, 9007199254740993n);
    assert.equal(p.lastHandshakeMs, 1700000000123);
    assert.deepEqual(p.allowedIps, ['10.0.0.0/24', 'fd00::/64']);
    assert.equal(p.presharedKeyDigest, undefined);
    assert.equal(p.endpoint, '[2001:db8::1]:51820');
    assert.equal(state.peers[1]!.lastHandshakeMs, 0);
    assert.match(state.peers[1]!.presharedKeyDigest ?? '', /^[0-9a-f]{32}$/);
    assert.ok(!JSON.stringify(state, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).includes('abab'));
    assert.throws(() => parseUapiGet(['public_key=zz']), DammError);
  });

  it('parses wg show dump', () => {
    const peer = generateKeyPair().publicKey;
    const state = parseWgDump(
      `${k.privateKey}\t${k.publicKey}\t51820\toff\n` +
        `${peer}\t(none)\t192.0.2.1:4000\t10.0.0.1/32,fd00::1/128\t1700000000\t18446744073709551615\t5\t25\n` +
        `${generateKeyPair().publicKey}\t(none)\t(none)\t(none)\t0\t0\t0\toff\n`,
    );
    assert.equal(state.publicKey, k.publicKey);
    assert.equal(state.peers[0]!.rxBytes, 18446744073709551615n);
    assert.deepEqual(state.peers[0]!.allowedIps, ['10.0.0.1/32', 'fd00::1/128']);
    assert.equal(state.peers[0]!.persistentKeepalive, 25);
    assert.equal(state.peers[1]!.endpoint, undefined);
    assert.deepEqual(state.peers[1]!.allowedIps, []);
    assert.ok(!JSON.stringify(state, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).includes(k.privateKey));
  });
});

describe('batching machinery', () => {
  it('the serial queue the backends and the agent use (p-queue, concurrency 1) runs in call order and survives a failed task', async () => {
    const q = new PQueue({ concurrency: 1 });
    const seen: number[] = [];
    const slow = (n: number, ms: number) => () => new Promise<number>((r) => setTimeout(() => (seen.push(n), r(n)), ms));
    const p1 = q.add(slow(1, 30));
    const p2 = q.add(() => Promise.reject(new Error('boom')));
    const p3 = q.add(slow(3, 1));
    await assert.rejects(p2);
    assert.deepEqual(await Promise.all([p1, p3]), [1, 3]);
    assert.deepEqual(seen, [1, 3]);
    await q.onIdle();
  });

  it('bisection finds every rejected item and resends the rest', async () => {
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const bad = new Set([3, 500, 501, 999]);
    const applied = new Set<number>();
    let requests = 0;
    const r = await sendIsolating(
      items,
      async (batch) => {
        requests++;
        for (const x of batch) {
          if (bad.has(x)) return { ok: false, reason: `bad ${x}` };
          applied.add(x); // not atomic, like WireGuard
        }
        return { ok: true };
      },
      { maxPerRequest: 400, maxRejected: 16 },
    );
    assert.deepEqual(r.rejected.map((x) => x.item), [3, 500, 501, 999]);
    assert.equal(applied.size, 996);
    assert.ok(requests < 100, `${requests} requests`);
  });

  it('stops isolating after maxRejected and abandons the rest; a thrown error aborts', async () => {
    const r = await sendIsolating(Array.from({ length: 64 }, (_, i) => i), async () => ({ ok: false, reason: 'no' }), { maxPerRequest: 64, maxRejected: 4 });
    assert.equal(r.rejected.length, 4);
    assert.equal(r.abandoned.length, 60);
    await assert.rejects(sendIsolating([1, 2], async () => Promise.reject(new Error('down')), { maxPerRequest: 2, maxRejected: 4 }), /down/);
  });
});

describe('UAPI client against fake daemons', () => {
  const dir = mkdtempSync(join(tmpdir(), 'damm-uapi-'));
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const fake = async (name: string, onConn: (s: Socket) => void): Promise<string> => {
    const path = join(dir, `${name}.sock`);
    const server = createServer(onConn);
    servers.push(server);
    await new Promise<void>((r) => server.listen(path, r));
    return path;
  };

  it('times out on a daemon that never answers, and the next request still runs', async () => {
    let calls = 0;
    const path = await fake('silent', (s) => {
      calls++;
      if (calls > 1) s.on('data', () => s.end('errno=0\n\n'));
    });
    const client = new UapiClient({ socketPath: path, timeoutMs: 150 });
    const err = await client.set(['listen_port=1']).catch((e: unknown) => e);
    assert.equal(uapiFailureOf(err), 'timeout');
    assert.equal(await client.set(['listen_port=1']), 0);
  });

  it('reports a hang-up as closed and a malformed answer as a protocol error', async () => {
    const hangup = await fake('hangup', (s) => s.on('data', () => s.destroy()));
    assert.equal(uapiFailureOf(await new UapiClient({ socketPath: hangup }).set(['x=1']).catch((e: unknown) => e)), 'closed');
    const garbage = await fake('garbage', (s) => s.on('data', () => s.end('hello\n\n')));
    assert.equal(uapiFailureOf(await new UapiClient({ socketPath: garbage }).get().catch((e: unknown) => e)), 'protocol');
  });

  it('answers split across many chunks are reassembled', async () => {
    const k = generateKeyPair();
    const body = `public_key=${Buffer.from(k.publicKey, 'base64').toString('hex')}\ntx_bytes=7\nerrno=0\n\n`;
    const path = await fake('dribble', (s) =>
      s.on('data', async () => {
        for (const ch of body) {
          s.write(ch);
          await new Promise((r) => setImmediate(r));
        }
      }),
    );
    const state = await new UapiClient({ socketPath: path }).get();
    assert.equal(state.peers[0]!.txBytes, 7n);
  });
});
