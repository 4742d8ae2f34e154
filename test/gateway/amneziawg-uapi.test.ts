/**
 * The UAPI backend driving a real amneziawg-go (v0.2.19) in a network
 * namespace: the shared backend conformance suite with AmneziaWG parameters
 * on every interface, then what is particular to AmneziaWG (parameters read
 * back, refused before they are sent, drift seen and repaired). Needs root
 * and amneziawg-go (.ci/run installs it); never skipped.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { generateAwgParams, validateAwgParams, type AwgParams } from '../../src/core/amneziawg.js';
import { DammError } from '../../src/core/errors.js';
import { interfaceDrift } from '../../src/gateway/wireguard/drift.js';
import { WgToolBackend } from '../../src/gateway/wireguard/wg-tool.js';
import { AMNEZIAWG_UAPI_SOCKET_DIR, encodeUapiUpsert, UapiBackend, UapiClient } from '../../src/gateway/wireguard/uapi.js';
import { AMNEZIAWG_GO, useNetnsKit, type WireguardGoHandle } from '../helpers/netns.js';
import { backendConformance, generateKeyPair } from '../helpers/wireguard.js';

const kit = useNetnsKit();
const create = (ifname: string): UapiBackend =>
  new UapiBackend({ interfaceName: ifname, socketDir: AMNEZIAWG_UAPI_SOCKET_DIR, timeoutMs: 10_000 });
const params = generateAwgParams(randomBytes);

describe('UAPI backend on amneziawg-go: conformance', () => {
  backendConformance(kit, { create, encodeUpsert: encodeUapiUpsert, badLine: 'allowed_ip=10.0.0.300/32', daemon: AMNEZIAWG_GO, awg: params });
});

describe('UAPI backend on amneziawg-go: AmneziaWG parameters', () => {
  let daemon: WireguardGoHandle;
  let backend: UapiBackend;
  const key = generateKeyPair();

  before(async () => {
    daemon = await kit.startWireguardGo(await kit.namespace(), undefined, AMNEZIAWG_GO);
    assert.equal(daemon.socketPath.startsWith(`${AMNEZIAWG_UAPI_SOCKET_DIR}/`), true);
    backend = create(daemon.ifname);
  });

  it('a fresh daemon reports its defaults; configureInterface sets key, port and parameters in one request', async () => {
    const fresh = await backend.listPeers();
    assert.deepEqual(fresh.awg, { jc: 0, jmin: 0, jmax: 0, s1: 0, s2: 0, s3: 0, s4: 0, h1: '1', h2: '2', h3: '3', h4: '4', i1: null });
    const want = { publicKey: key.publicKey, listenPort: 40001, awg: params };
    assert.deepEqual(interfaceDrift(fresh, want), ['private_key', 'listen_port', 'awg']);
    await backend.configureInterface({ privateKey: key.privateKey, listenPort: 40001, awg: params });
    const state = await backend.listPeers();
    assert.deepEqual(state.awg, params);
    assert.deepEqual(interfaceDrift(state, want), []);
  });

  it('invalid parameters are refused before anything reaches the daemon', async () => {
    const before = await backend.listPeers();
    const other = generateKeyPair();
    // Overlapping headers: amneziawg-go would apply h2 and only then refuse the set.
    for (const bad of [{ ...params, h2: params.h1 }, { ...params, s2: params.s1 + 56 }, { ...params, jc: 0 }, { ...params, i1: '<d>' }]) {
      await assert.rejects(
        backend.configureInterface({ privateKey: other.privateKey, listenPort: 40002, awg: bad }),
        (e: unknown) => e instanceof DammError && e.code === 'invalid_argument' && typeof e.details?.['field'] === 'string',
      );
    }
    assert.deepEqual(await backend.listPeers(), before, 'key, port and parameters unchanged');
  });

  it('a parameter changed by hand is seen as drift and configureInterface repairs it; i1 is cleared when the door has none', async () => {
    const raw = new UapiClient({ socketPath: daemon.socketPath });
    const h1 = params.h1 === '77' ? '78' : '77';
    assert.equal(await raw.set([`h1=${h1}`, 's3=5']), 0);
    const drifted = await backend.listPeers();
    assert.equal(drifted.awg?.h1, h1);
    assert.deepEqual(interfaceDrift(drifted, { publicKey: key.publicKey, listenPort: 40001, awg: params }), ['awg']);
    await backend.configureInterface({ privateKey: key.privateKey, listenPort: 40001, awg: params });
    assert.deepEqual((await backend.listPeers()).awg, params);
    const noI1 = { ...params, i1: null };
    await backend.configureInterface({ privateKey: key.privateKey, listenPort: 40001, awg: noI1 });
    assert.deepEqual((await backend.listPeers()).awg, noI1);
  });

  it('the daemon takes every set the validator accepts: 300 generated and the boundary sets, each read back exactly', async () => {
    const boundary: AwgParams[] = [
      { jc: 1, jmin: 1, jmax: 1, s1: 0, s2: 1, s3: 2, s4: 0, h1: '5', h2: '6', h3: '7', h4: '8', i1: '<t>' },
      {
        jc: 128, jmin: 1232, jmax: 1232, s1: 1001, s2: 1002, s3: 1003, s4: 32,
        h1: '5-1000000000', h2: '1000000001-2000000000', h3: '2000000001-4294967294', h4: '4294967295',
        i1: `<b 0x${'ab'.repeat(20)}><r 16><rc 8><rd 8><t><r 1>`,
      },
    ];
    for (const p of boundary) validateAwgParams(p);
    const sets = [...boundary, ...Array.from({ length: 300 }, () => generateAwgParams(randomBytes))];
    for (const p of sets) {
      await backend.configureInterface({ privateKey: key.privateKey, listenPort: 40001, awg: p });
      assert.deepEqual((await backend.listPeers()).awg, p);
    }
    await backend.configureInterface({ privateKey: key.privateKey, listenPort: 40001, awg: params });
  });

  it('the daemon itself refuses overlapping headers (why the backend validates first)', async () => {
    const raw = new UapiClient({ socketPath: daemon.socketPath });
    assert.equal(await raw.set([`h2=${params.h1}`]), -22);
  });
});

it('the wg backend (kernel WireGuard) refuses AmneziaWG parameters instead of dropping them', async () => {
  const wgBackend = new WgToolBackend({ interfaceName: 'awgnone0', wgPath: '/nonexistent/wg' });
  await assert.rejects(
    wgBackend.configureInterface({ privateKey: generateKeyPair().privateKey, listenPort: 1, awg: params }),
    (e: unknown) => e instanceof DammError && e.code === 'invalid_argument' && /amneziawg-go/.test(e.message),
  );
});
