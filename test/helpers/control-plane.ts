/** Starts a real control plane (real Postgres, real HTTP on loopback) for a test. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../src/control-plane/server.js';
import { loadConfig, type Config } from '../../src/control-plane/config.js';
import { createOperatorToken } from '../../src/control-plane/services/operators.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import type { Clock } from '../../src/core/clock.js';

export interface TestControlPlane extends ControlPlane {
  url: string;
  operatorToken: string;
  database: TestDatabase;
  dataDir: string;
  logs: string[];
  stop(): Promise<void>;
  /** Calls the API as an operator. */
  op(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
}

export async function startTestControlPlane(
  opts: { config?: Partial<Config>; clock?: Clock; database?: TestDatabase; host?: string } & Pick<ControlPlaneOptions, 'extensions'> = {},
): Promise<TestControlPlane> {
  const database = opts.database ?? (await createTestDatabase());
  const dataDir = await mkdtemp(path.join(tmpdir(), 'damm-cp-'));
  const config = loadConfig({}, { dataDir, databaseUrl: database.url, port: 0, host: opts.host ?? '127.0.0.1', logLevel: 'info', ...opts.config });
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const cp = await createControlPlane({
    config,
    store: database,
    logStream,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.extensions ? { extensions: opts.extensions } : {}),
  });
  const address = await cp.app.listen({ host: config.host, port: 0 });
  const { token } = await createOperatorToken(database.db, 'test', new Date());
  const call = async (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${address}${p}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed as any, headers: res.headers };
  };
  return {
    ...cp,
    url: address,
    operatorToken: token,
    database,
    dataDir,
    logs,
    call,
    op: (method, p, body) => call(method, p, body, { authorization: `Bearer ${token}` }),
    stop: async () => {
      await cp.close();
      if (!opts.database) await database.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Adds and registers a gateway through the real API; returns its credential. */
export async function registerTestGateway(
  cp: TestControlPlane,
  opts: { region?: string; country?: string; publicKey: string; host?: string; port?: number; egressIps?: string[]; tiers?: string[] },
) {
  const add = await cp.op('POST', '/v1/operator/gateways', { region: opts.region ?? 'NL', country: opts.country ?? 'NL' });
  if (add.status !== 201) throw new Error(`gateway add failed: ${JSON.stringify(add.body)}`);
  const reg = await cp.call('POST', '/v1/gateways/register', {
    registrationToken: add.body.registrationToken,
    wgPublicKey: opts.publicKey,
    endpoints: (opts.tiers ?? ['T0']).map((tier, i) => ({ tier, host: opts.host ?? '192.0.2.10', port: (opts.port ?? 51820) + i })),
    egressIps: opts.egressIps ?? ['192.0.2.10'],
  });
  if (reg.status !== 201) throw new Error(`gateway register failed: ${JSON.stringify(reg.body)}`);
  return reg.body as { gatewayId: string; credential: string; scope: string };
}
