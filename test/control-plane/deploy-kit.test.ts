/**
 * The control-plane deploy kit (deploy/): what an operator installs on a host
 * of its own must be true of this code. The Grafana dashboard and the alert
 * rules may only name series the control plane really exports (read from a
 * live /metrics after real traffic); the Caddyfile must be valid Caddy
 * config pointing at the port the env example sets, with the proxy trusted;
 * every unit must pass `systemd-analyze verify` without a warning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { startTestControlPlane, registerTestGateway } from '../helpers/control-plane.js';
import { wgKeyPair } from '../helpers/keys.js';
import { verifyUnits } from '../../src/io/systemd-verify.js';
import { until } from '../helpers/wait.js';
import { createMetrics } from '../../src/control-plane/metrics.js';

const run = promisify(execFile);
const deploy = (name: string) => new URL(`../../deploy/${name}`, import.meta.url).pathname;

function envExample(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env.set(m[1]!, m[2]!);
  }
  return env;
}

/** Metric families named in PromQL text, with histogram suffixes folded into their family. */
function seriesNamed(text: string): Set<string> {
  return new Set([...text.matchAll(/\bdamm_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));
}

test('the dashboard and the alerts name only series a live control plane exports, and the new gauges carry real values', async () => {
  const cp = await startTestControlPlane();
  try {
    const gw = await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey, region: 'NL', country: 'NL' });
    const auth = { authorization: `Bearer ${gw.credential}` };
    const pass = (await cp.call('POST', '/v1/install-passes')).body.installPass;
    const enrolled = await cp.call('POST', '/v1/enroll', { installPass: pass, publicKey: wgKeyPair().publicKey });
    assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
    // The gateway polls from revision 0 once the admission is sequenced: its lag at that poll is at least 1.
    await until('the admission reaches the feed', async () =>
      (await cp.call('GET', `/v1/gateways/${gw.gatewayId}/feed?after=0&wait=0`, undefined, auth)).body.revision >= 1);

    const scrape = (await cp.call('GET', '/metrics')).body as string;
    const exported = new Set([...scrape.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    assert.match(scrape, new RegExp(`^damm_gateway_online\\{gateway="${gw.gatewayId}",name="[^"]+",region="NL"\\} 1$`, 'm'));
    const age = new RegExp(`^damm_gateway_heartbeat_age_seconds\\{gateway="${gw.gatewayId}"[^}]*\\} (\\S+)$`, 'm').exec(scrape);
    assert.ok(age && Number(age[1]) >= 0 && Number(age[1]) < 60, 'heartbeat age of a gateway that just registered');
    const lag = new RegExp(`^damm_gateway_feed_lag_revisions\\{gateway="${gw.gatewayId}"\\} (\\d+)$`, 'm').exec(scrape);
    assert.ok(lag && Number(lag[1]) >= 1, 'the lag seen at that poll');
    assert.match(scrape, /^damm_store_up 1$/m);
    assert.match(scrape, /^damm_feed_head_revision [1-9]\d*$/m);

    const dashboard = JSON.parse(await readFile(deploy('grafana-dashboard.json'), 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));
    assert.ok(exprs.length >= 8);
    const alerts = await readFile(deploy('damm-alerts.yml'), 'utf8');
    for (const name of [...seriesNamed(exprs.join('\n')), ...seriesNamed(alerts)]) {
      assert.ok(exported.has(name), `${name} is used by the deploy kit but not exported`);
    }
    // The four things the issue names are on the dashboard.
    for (const needed of ['damm_http_request_duration_seconds_bucket{route="/v1/enroll"', 'damm_rejections_total', 'damm_gateway_feed_lag_revisions', 'damm_gateway_heartbeat_age_seconds']) {
      assert.ok(exprs.some((e) => e.includes(needed)), `dashboard shows ${needed}`);
    }
  } finally {
    await cp.stop();
  }
});

test('a store the scrape cannot read sets damm_store_up 0 and drops the per-gateway series instead of failing the scrape', async () => {
  const metrics = createMetrics();
  let down = false;
  metrics.watchGateways({
    now: () => new Date('2026-01-01T00:00:10Z'),
    gateways: async () => {
      if (down) throw new Error('connection refused');
      return [{ id: 'g1', name: 'ams-1', region: 'NL', online: true, lastHeartbeatAt: new Date('2026-01-01T00:00:00Z') }];
    },
  });
  await metrics.refreshGatewayGauges();
  let text = await metrics.registry.metrics();
  assert.match(text, /^damm_gateway_heartbeat_age_seconds\{gateway="g1",name="ams-1",region="NL"\} 10$/m);
  assert.match(text, /^damm_store_up 1$/m);
  down = true;
  await metrics.refreshGatewayGauges();
  text = await metrics.registry.metrics();
  assert.match(text, /^damm_store_up 0$/m);
  assert.doesNotMatch(text, /damm_gateway_heartbeat_age_seconds\{/);
});

test('the Caddyfile is valid Caddy config that proxies to the env example\'s port, and the control plane trusts exactly that proxy', async () => {
  const env = envExample(await readFile(deploy('control-plane.env.example'), 'utf8'));
  const { stdout } = await run('caddy', ['adapt', '--config', deploy('Caddyfile'), '--adapter', 'caddyfile', '--validate'], { timeout: 30_000 });
  const config = JSON.parse(stdout);
  const dials = JSON.stringify(config).match(/"dial":"([^"]+)"/g) ?? [];
  assert.deepEqual([...new Set(dials)], [`"dial":"${env.get('DAMM_HOST')}:${env.get('DAMM_PORT')}"`]);
  assert.equal(env.get('DAMM_TRUSTED_PROXIES'), env.get('DAMM_HOST'), 'Caddy connects from the loopback address the control plane listens on');
  assert.match(JSON.stringify(config), /"read_timeout":60000000000/, 'room for 25 s feed long polls');
});

test('every unit in deploy/ passes systemd-analyze verify without a warning, and the control plane runs with no privilege', async () => {
  const units = ['damm-control-plane.service', 'damm-gateway.service', 'damm-wireguard-go@.service'].map(deploy);
  const r = await verifyUnits(units, { executables: ['/usr/bin/damm', '/usr/bin/wireguard-go'] });
  assert.equal(r.code, 0, r.output);
  assert.equal(r.output, '', 'no warning either');
  const cp = await readFile(deploy('damm-control-plane.service'), 'utf8');
  for (const line of ['User=damm', 'CapabilityBoundingSet=', 'AmbientCapabilities=', 'NoNewPrivileges=yes', 'Restart=on-failure']) {
    assert.match(cp, new RegExp(`^${line}$`, 'm'));
  }
});

test('a unit with a misspelt key is caught by the same check (the check can fail)', async () => {
  const text = (await readFile(deploy('damm-control-plane.service'), 'utf8')).replace('NoNewPrivileges=yes', 'NoNewPrivilege=yes');
  const { mkdtemp, writeFile } = await import('node:fs/promises');
  const dir = await mkdtemp('/tmp/damm-unit-');
  await writeFile(`${dir}/damm-control-plane.service`, text);
  const r = await verifyUnits([`${dir}/damm-control-plane.service`], { executables: ['/usr/bin/damm'] });
  assert.match(r.output, /Unknown key 'NoNewPrivilege'/);
});
