/** Shared pieces of the feed, agent and e2e tests: a control plane with feed/admission options, enrollment, gateway calls. */
import { startTestControlPlane, registerTestGateway, type TestControlPlane } from '../helpers/control-plane.js';
import { wgKeyPair } from '../helpers/keys.js';
import type { ControlPlaneOptions } from '../../src/control-plane/server.js';
import type { Config } from '../../src/control-plane/config.js';
import type { Clock } from '../../src/core/clock.js';
import type { TestDatabase } from '../helpers/db.js';
import { collectSnapshot } from '../../src/client/snapshot-stream.js';
import type { SnapshotRecord } from '../../src/core/feed-api.js';

/** The feed and the admission issuer are on every control plane (cp.feed, cp.admissions). */
export type FeedControlPlane = TestControlPlane;

export async function startFeedControlPlane(
  opts: { config?: Partial<Config>; clock?: Clock; database?: TestDatabase; feed?: Pick<ControlPlaneOptions, 'feed' | 'admission'>; host?: string; dataDir?: string; port?: number } = {},
): Promise<FeedControlPlane> {
  return startTestControlPlane({
    ...opts.feed,
    ...(opts.config ? { config: opts.config } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.database ? { database: opts.database } : {}),
    ...(opts.host ? { host: opts.host } : {}),
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
  });
}

export interface TestGateway {
  gatewayId: string;
  credential: string;
  scope: string;
  tunnel: { ipv4Cidr: string; ipv6Prefix: string; gatewayIpv4: string; gatewayIpv6: string };
  admissionKeys: { keyid: string; publicKey: string }[];
}

export async function addGateway(cp: TestControlPlane, opts: { region?: string; country?: string; egressIps?: string[] } = {}): Promise<TestGateway> {
  return (await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey, ...opts })) as unknown as TestGateway;
}

export function gwCall(cp: TestControlPlane, gw: { gatewayId: string; credential: string }, method: string, path: string, body?: unknown) {
  return cp.call(method, `/v1/gateways/${gw.gatewayId}${path}`, body, { authorization: `Bearer ${gw.credential}` });
}

/**
 * GET /snapshot read with the agent's own NDJSON reader (src/client/snapshot-stream.ts):
 * a stream without its trailer, or one that does not add up, throws here too.
 */
export async function snapshotOf(cp: TestControlPlane, gw: { gatewayId: string; credential: string }): Promise<{ status: number; contentType: string | null; revision: number; records: SnapshotRecord[] }> {
  const res = await fetch(`${cp.url}/v1/gateways/${gw.gatewayId}/snapshot`, { headers: { authorization: `Bearer ${gw.credential}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`snapshot ${res.status}: ${text}`);
  const s = await collectSnapshot(text);
  return { status: res.status, contentType: res.headers.get('content-type'), ...s };
}

export async function invite(cp: TestControlPlane, uses: number, tier?: string): Promise<string> {
  const r = await cp.op('POST', '/v1/operator/invites', { uses, ...(tier ? { tier } : {}) });
  if (r.status !== 201) throw new Error(`invite failed: ${JSON.stringify(r.body)}`);
  return r.body.token as string;
}

export async function enroll(url: string, pass: string, region = 'NL'): Promise<{ deviceId: string; publicKey: string; privateKey: string; body: any }> {
  const kp = wgKeyPair();
  const res = await fetch(`${url}/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ installPass: pass, publicKey: kp.publicKey, region }),
  });
  const body = (await res.json()) as any;
  if (res.status !== 201) throw new Error(`enroll failed ${res.status}: ${JSON.stringify(body)}`);
  return { deviceId: body.deviceId, ...kp, body };
}

/** Reads the whole feed from `after` until it is drained (no waiting). */
export async function drainFeed(cp: TestControlPlane, gw: TestGateway, after: number) {
  const events: any[] = [];
  let cursor = after;
  for (;;) {
    const r = await gwCall(cp, gw, 'GET', `/feed?after=${cursor}&wait=0`);
    if (r.status !== 200) throw new Error(`feed ${r.status}: ${JSON.stringify(r.body)}`);
    events.push(...r.body.events);
    if (r.body.revision === cursor && r.body.events.length === 0) return { events, revision: cursor };
    cursor = r.body.revision;
    if (r.body.events.length === 0) return { events, revision: cursor };
  }
}

export { until } from '../helpers/wait.js';
