/**
 * The router-regime harness itself (test/helpers/router.ts): for each regime,
 * probes from the client to an echo server on the gateway pass or fail
 * exactly as the regime says, and every failure is a drop the regime counted.
 * Needs root, nftables and conntrack; never skipped.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { useNetnsKit } from '../helpers/netns.js';
import { REGIMES, startRouterLab, type Probe, type Regime, type RouterLab } from '../helpers/router.js';

const kit = useNetnsKit();
let lab: RouterLab;

const hex = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
// A WireGuard handshake initiation's shape: 148 bytes starting 01 00 00 00; one byte longer is not.
const wgInit = `01000000${'ab'.repeat(144)}`;
const FAIL_MS = 1500;

const PROBES: Probe[] = [
  { name: 'udp/51820', proto: 'udp', port: 51820, hex: hex('hello'), timeoutMs: FAIL_MS },
  { name: 'udp/443', proto: 'udp', port: 443, hex: hex('hello'), timeoutMs: FAIL_MS },
  { name: 'udp/443 wg-init', proto: 'udp', port: 443, hex: wgInit, timeoutMs: FAIL_MS },
  { name: 'udp/443 149 bytes', proto: 'udp', port: 443, hex: `${wgInit}cd`, timeoutMs: FAIL_MS },
  { name: 'tcp/443 tls', proto: 'tcp', port: 443, hex: `160301${'00'.repeat(40)}`, timeoutMs: FAIL_MS },
  { name: 'tcp/80 http', proto: 'tcp', port: 80, hex: hex('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), timeoutMs: FAIL_MS },
  { name: 'tcp/443 ssh', proto: 'tcp', port: 443, hex: hex('SSH-2.0-OpenSSH_9.2\r\n'), timeoutMs: FAIL_MS },
  { name: 'tcp/8080 tls', proto: 'tcp', port: 8080, hex: `160301${'00'.repeat(40)}`, timeoutMs: FAIL_MS },
];

// true = passes. Columns R0..R5.
const EXPECTED: Record<string, Record<Regime, boolean>> = {
  'udp/51820': { R0: true, R1: false, R2: false, R3: true, R4: false, R5: false },
  'udp/443': { R0: true, R1: true, R2: false, R3: true, R4: false, R5: false },
  'udp/443 wg-init': { R0: true, R1: true, R2: false, R3: false, R4: false, R5: false },
  'udp/443 149 bytes': { R0: true, R1: true, R2: false, R3: true, R4: false, R5: false },
  'tcp/443 tls': { R0: true, R1: true, R2: true, R3: true, R4: true, R5: true },
  'tcp/80 http': { R0: true, R1: true, R2: true, R3: true, R4: true, R5: true },
  'tcp/443 ssh': { R0: true, R1: true, R2: true, R3: true, R4: true, R5: false },
  'tcp/8080 tls': { R0: true, R1: true, R2: true, R3: true, R4: false, R5: false },
};

before(async () => {
  lab = await startRouterLab(kit, { prefix: 'awr' });
  await lab.startEchoServer([51820, 443], [80, 443, 8080]);
});

describe('router regimes', () => {
  const table: string[] = [];
  for (const regime of REGIMES) {
    it(`${regime}: each probe passes or fails as the regime says, and the failures were counted drops`, async () => {
      await lab.setRegime(regime);
      assert.equal(await lab.dropped(), 0, 'a fresh regime starts at zero drops');
      const got = await lab.probe(PROBES);
      table.push(`${regime}: ${PROBES.map((p) => `${p.name}=${got[p.name] ? 'pass' : 'FAIL'}`).join(' ')}`);
      for (const p of PROBES) assert.equal(got[p.name], EXPECTED[p.name]![regime], `${regime} ${p.name}`);
      const failures = PROBES.filter((p) => !EXPECTED[p.name]![regime]).length;
      const drops = await lab.dropped();
      if (failures === 0) assert.equal(drops, 0, 'nothing dropped when everything passes');
      else assert.ok(drops >= failures, `${drops} drops counted for ${failures} failing probes`);
    });
  }

  it('R5 judges a flow by its first payload only: TLS first, then anything passes; the drops are the condemned flows\' packets', async () => {
    await lab.setRegime('R5');
    const got = await lab.probe([
      { name: 'tls then ssh', proto: 'tcp', port: 443, hex: `160301${'00'.repeat(8)}`, then: hex('SSH-2.0-x\r\n'), timeoutMs: FAIL_MS },
      { name: 'http then binary', proto: 'tcp', port: 80, hex: hex('POST / HTTP/1.1\r\n'), then: '0001020304', timeoutMs: FAIL_MS },
      { name: 'binary first', proto: 'tcp', port: 443, hex: '0001020304', timeoutMs: FAIL_MS },
    ]);
    assert.deepEqual(got, { 'tls then ssh': true, 'http then binary': true, 'binary first': false });
    // The condemned flow's first payload and every retransmission of it were dropped (ct mark 2).
    assert.ok((await lab.dropped()) >= 2);
    console.log(`# regime probes:\n# ${table.join('\n# ')}`);
});
});
