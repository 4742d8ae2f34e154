/** The gateway agent's settings: one schema, flags over environment over defaults, refusals that name both spellings. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DammError } from '../../src/core/errors.js';
import { GATEWAY_DEFAULTS, GATEWAY_SETTINGS, GatewaySettingsSchema, gatewaySettingsFrom } from '../../src/gateway/agent/settings.js';

const required = { controlPlane: 'https://cp.example', endpoint: '198.51.100.1:51820', egressIps: ['198.51.100.1'] };

test('defaults fill what is not given; the result is exactly the schema', () => {
  const s = gatewaySettingsFrom(required, {});
  assert.deepEqual(s, { ...GATEWAY_DEFAULTS, ...required });
  assert.deepEqual(Object.keys(GATEWAY_SETTINGS).sort(), Object.keys(GatewaySettingsSchema.properties).sort());
});

test('the environment overrides defaults; a flag given overrides the environment', () => {
  const env = {
    DAMM_CONTROL_PLANE: 'http://10.0.0.1:8080',
    DAMM_GATEWAY_ENDPOINT: '[2001:db8::1]:443',
    DAMM_GATEWAY_EGRESS_IPS: '192.0.2.7, 2001:db8::7',
    DAMM_GATEWAY_LISTEN_PORT: '443',
    DAMM_GATEWAY_NAT: 'yes',
    DAMM_GATEWAY_MANAGE_ADDRESSES: 'false',
    DAMM_GATEWAY_RECONCILE_INTERVAL_SECONDS: '5',
  };
  const s = gatewaySettingsFrom({}, env);
  assert.equal(s.controlPlane, 'http://10.0.0.1:8080');
  assert.deepEqual(s.egressIps, ['192.0.2.7', '2001:db8::7']);
  assert.equal(s.listenPort, 443);
  assert.equal(s.nat, true);
  assert.equal(s.manageAddresses, false);
  assert.equal(s.reconcileIntervalSeconds, 5);
  assert.deepEqual(gatewaySettingsFrom(required, { DAMM_GATEWAY_ALT_PORTS: '443, 53' }).altPorts, [443, 53]);
  assert.deepEqual(gatewaySettingsFrom({ ...required, altPorts: [8443] }, { DAMM_GATEWAY_ALT_PORTS: '443,53' }).altPorts, [8443]);
  const awg = gatewaySettingsFrom(required, { DAMM_GATEWAY_AWG_PORT: '51821', DAMM_GATEWAY_WG_LANE_PORT: '51822' });
  assert.deepEqual([awg.awgPort, awg.awgInterface, awg.awgSocketDir, awg.wgLanePort, awg.wgLaneInterface], [51821, 'awg0', '/var/run/amneziawg', 51822, 'wg2']);
  const f = gatewaySettingsFrom({ listenPort: 53, egressIps: ['192.0.2.9'] }, env);
  assert.equal(f.listenPort, 53);
  assert.deepEqual(f.egressIps, ['192.0.2.9']);
});

test('wrong values are refused without coercion, naming the flag and the variable', () => {
  const bad: Array<[Record<string, unknown>, NodeJS.ProcessEnv, RegExp]> = [
    [{}, {}, /--control-plane \(env DAMM_CONTROL_PLANE\) is required/],
    [{ ...required, controlPlane: 'ftp://cp.example' }, {}, /--control-plane/],
    [required, { DAMM_GATEWAY_LISTEN_PORT: '1e3' }, /--listen-port \(env DAMM_GATEWAY_LISTEN_PORT\)/],
    [required, { DAMM_GATEWAY_LISTEN_PORT: '70000' }, /--listen-port/],
    [{ ...required, listenPort: 0 }, {}, /--listen-port/],
    [{ ...required, backend: 'kernel' }, {}, /--backend/],
    [{ ...required, interface: 'a-very-long-interface-name' }, {}, /--interface/],
    [{ ...required, endpoint: 'cp.example' }, {}, /--endpoint/],
    [{ ...required, endpoint: 'cp.example:99999' }, {}, /--endpoint/],
    [{ ...required, egressIps: [] }, {}, /--egress-ip/],
    [{ ...required, egressIps: ['010.0.0.1'] }, {}, /--egress-ip .*"010.0.0.1" is not an IP address/],
    [required, { DAMM_GATEWAY_NAT: 'sometimes' }, /--nat \(env DAMM_GATEWAY_NAT\)/],
    [{ ...required, egressInterface: 'eth0' }, {}, /only applies with --nat/],
    [{ ...required, rootSha256: 'abc' }, {}, /--root-sha256/],
    [{ ...required, logLevel: 'loud' }, {}, /--log-level/],
    [{ ...required, heartbeatIntervalSeconds: '30' }, {}, /--heartbeat-interval/],
    [required, { DAMM_GATEWAY_ALT_PORTS: '443,0' }, /--alt-port \(env DAMM_GATEWAY_ALT_PORTS\)/],
    [required, { DAMM_GATEWAY_ALT_PORTS: '443,65536' }, /--alt-port/],
    [required, { DAMM_GATEWAY_ALT_PORTS: '443,x' }, /--alt-port/],
    [{ ...required, altPorts: [443, 53, 443] }, {}, /--alt-port .*port 443 twice/],
    [{ ...required, altPorts: [51820] }, {}, /--alt-port .*51820 is the listen port/],
    [{ ...required, listenPort: 443 }, { DAMM_GATEWAY_ALT_PORTS: '443' }, /--alt-port .*443 is the listen port/],
    [{ ...required, altPorts: [1, 2, 3, 4, 5, 6, 7, 8] }, {}, /--alt-port/],
    [required, { DAMM_GATEWAY_AWG_PORT: '0' }, /--awg-port \(env DAMM_GATEWAY_AWG_PORT\)/],
    [{ ...required, awgPort: 51820 }, {}, /--awg-port .*51820 is already --listen-port/],
    [{ ...required, altPorts: [443], awgPort: 443 }, {}, /--awg-port .*443 is already --alt-port/],
    [{ ...required, wgLanePort: 51821, awgPort: 51821 }, {}, /--awg-port .*51821 is already --wg-lane-port/],
    [{ ...required, awgPort: 51821, awgInterface: 'wg0' }, {}, /--awg-interface .*wg0 is already --interface/],
    [{ ...required, wgLanePort: 51822, wgLaneInterface: 'wg0' }, {}, /--wg-lane-interface .*wg0 is already --interface/],
    [{ ...required, awgPort: 51821, backend: 'wg' }, {}, /--awg-port .* needs --backend uapi/],
    [{ ...required, awgInterface: 'awg-interface-too-long' }, {}, /--awg-interface/],
  ];
  for (const [flags, env, message] of bad) {
    assert.throws(() => gatewaySettingsFrom(flags, env), (e: unknown) => e instanceof DammError && e.code === 'config_invalid' && message.test(e.message), `${JSON.stringify(flags)} ${JSON.stringify(env)}`);
  }
});

test('docs/gateway.md lists every setting with its flag and variable', async () => {
  const { readFile } = await import('node:fs/promises');
  const doc = await readFile(new URL('../../docs/gateway.md', import.meta.url), 'utf8');
  for (const { flag, env } of Object.values(GATEWAY_SETTINGS)) {
    assert.ok(doc.includes(`| \`${flag}\``), `${flag} in the settings table`);
    assert.ok(doc.includes(`\`${env}\``), `${env} in the settings table`);
  }
});

test('the settings table imports nothing, so `damm gateway run --help` can print it without loading the schema', async () => {
  const { readFile } = await import('node:fs/promises');
  const src = await readFile(new URL('../../src/gateway/agent/settings-table.ts', import.meta.url), 'utf8');
  assert.doesNotMatch(src, /^\s*import\s/m);
});
