/** `wg` tool backend, driving a real wireguard-go (wg speaks UAPI to it) in a network namespace. Needs root; never skipped. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { DammError } from '../../src/core/errors.js';
import { encodeWgUpsert, WgToolBackend } from '../../src/gateway/wireguard/wg-tool.js';
import { useNetnsKit, type WireguardGoHandle } from '../helpers/netns.js';
import { applyFailure, backendConformance, generateKeyPair, generatePresharedKey, makePeers } from '../helpers/wireguard.js';

const kit = useNetnsKit();
const create = (ifname: string): WgToolBackend => new WgToolBackend({ interfaceName: ifname, timeoutMs: 10_000 });

describe('wg tool backend: conformance', () => {
  backendConformance(kit, { create, encodeUpsert: encodeWgUpsert, badLine: 'AllowedIPs = 10.0.0.300/32' });
});

/** Records every argv and stdin given to `wg`. */
class RecordingBackend extends WgToolBackend {
  readonly calls: Array<{ args: readonly string[]; stdin: string | undefined }> = [];
  override run(args: readonly string[], stdin?: string) {
    this.calls.push({ args, stdin });
    return super.run(args, stdin);
  }
}

describe('wg tool backend: specifics', () => {
  let daemon: WireguardGoHandle;

  before(async () => {
    daemon = await kit.startWireguardGo(await kit.namespace());
  });

  it('secrets travel on stdin only, never in argv', async () => {
    const backend = new RecordingBackend({ interfaceName: daemon.ifname });
    const key = generateKeyPair();
    const psk = generatePresharedKey();
    await backend.configureInterface({ privateKey: key.privateKey, listenPort: 0 });
    await backend.applyPeers({ upsert: [{ publicKey: generateKeyPair().publicKey, allowedIps: ['10.5.0.1/32'], presharedKey: psk }], remove: [] });
    const state = await backend.listPeers();
    assert.equal(state.publicKey, key.publicKey);
    assert.ok(state.peers[0]!.presharedKeyDigest);
    const argv = backend.calls.flatMap((c) => c.args).join(' ');
    assert.ok(!argv.includes(key.privateKey) && !argv.includes(psk));
    assert.ok(backend.calls.some((c) => c.stdin?.includes(key.privateKey)));
    assert.ok(backend.calls.some((c) => c.stdin?.includes(psk)));
    assert.ok(backend.calls.every((c) => c.args[1] === daemon.ifname));
    await backend.replacePeers([]);
  });

  it('a parse error from wg is isolated to its peer and the message masks keys wg echoes', async () => {
    const backend = create(daemon.ifname);
    const batch = makePeers(50, 300).map((p) => encodeWgUpsert({ ...p, allowedIps: p.allowedIps, persistentKeepalive: 0, pskDigest: undefined }));
    // Looks like a key but has non-zero trailing bits, which wg refuses and echoes back in its error.
    const almostSecret = `${'Q'.repeat(42)}B=`;
    batch[7]!.lines.splice(1, 0, `PresharedKey = ${almostSecret}`);
    const err = await backend.applyEncoded(batch).catch((e: unknown) => e);
    const details = applyFailure(err);
    assert.deepEqual(details.rejected.map((r) => r.publicKey), [batch[7]!.publicKey]);
    assert.match(details.rejected[0]!.reason, /\[key\]/);
    assert.ok(!JSON.stringify(details).includes(almostSecret) && !(err as Error).message.includes(almostSecret));
    assert.equal(details.applied, 49);
    assert.equal((await backend.listPeers()).peers.length, 49);
    await backend.replacePeers([]);
  });

  it('a hung daemon makes wg time out instead of hanging the agent; the next call works', async () => {
    const backend = new WgToolBackend({ interfaceName: daemon.ifname, timeoutMs: 400 });
    process.kill(daemon.pid, 'SIGSTOP');
    try {
      const started = Date.now();
      await assert.rejects(backend.listPeers(), (err: unknown) => err instanceof DammError && err.details?.['wg'] === 'timeout');
      assert.ok(Date.now() - started < 3000);
    } finally {
      process.kill(daemon.pid, 'SIGCONT');
    }
    assert.ok(Array.isArray((await backend.listPeers()).peers));
  });

  it('a missing wg binary or interface fails with a DammError', async () => {
    await assert.rejects(new WgToolBackend({ interfaceName: daemon.ifname, wgPath: '/nonexistent/wg' }).listPeers(), DammError);
    await assert.rejects(create('dwnosuchif').listPeers(), DammError);
    assert.throws(() => new WgToolBackend({ interfaceName: '-h' }), DammError);
  });
});
