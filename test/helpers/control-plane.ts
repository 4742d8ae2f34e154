/** Starts a real control plane (real Postgres, real HTTP on loopback) for a test. */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../src/control-plane/server.js';
import { loadConfig, type Config } from '../../src/control-plane/config.js';
import { createOperatorToken } from '../../src/control-plane/services/operators.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { wgKeyPair } from './keys.js';
import { systemClock, type Clock } from '../../src/core/clock.js';
import { initTrust } from '../../src/control-plane/trust/init.js';
import { keysDir } from '../../src/control-plane/keyring.js';
import { until } from './wait.js';

/**
 * Online key files of the control plane that initialised each test database,
 * so a second control plane on the same database (two processes, one store)
 * holds the same keys, as two hosts sharing <dataDir>/keys would.
 */
const keysByDatabase = new Map<string, { name: string; body: string }[]>();

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
  opts: { config?: Partial<Config>; clock?: Clock; database?: TestDatabase; host?: string; dataDir?: string; port?: number } & Pick<ControlPlaneOptions, 'feed' | 'admission' | 'trustReloadMs'> = {},
): Promise<TestControlPlane> {
  const database = opts.database ?? (await createTestDatabase());
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'damm-cp-')));
  // The same first-use path as `damm init`: online keys, offline root in <dataDir>/offline-root, root v1.
  const shared = keysByDatabase.get(database.url);
  if (shared && !opts.dataDir) {
    await mkdir(keysDir(dataDir), { recursive: true, mode: 0o700 });
    for (const f of shared) await writeFile(path.join(keysDir(dataDir), f.name), f.body, { mode: 0o600 });
  }
  const trust = await initTrust({ db: database.db, dataDir, now: (opts.clock ?? systemClock).now(), actor: 'test' });
  if (trust.created) {
    const names = (await readdir(keysDir(dataDir))).filter((n) => n.endsWith('.key'));
    keysByDatabase.set(database.url, await Promise.all(names.map(async (name) => ({ name, body: await readFile(path.join(keysDir(dataDir), name), 'utf8') }))));
  }
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
    ...(opts.feed ? { feed: opts.feed } : {}),
    ...(opts.admission ? { admission: opts.admission } : {}),
    ...(opts.trustReloadMs !== undefined ? { trustReloadMs: opts.trustReloadMs } : {}),
  });
  // A given port: a control plane restarted where its clients expect it (same database and data directory).
  const address = await cp.app.listen({ host: config.host, port: opts.port ?? 0 });
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
      if (!opts.database) {
        keysByDatabase.delete(database.url);
        await database.close();
      }
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
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
    // One lane per tier given: lane 0 plain WireGuard with the given key, later lanes their own key.
    doors: (opts.tiers ?? ['T0']).map((tier, i) => ({
      lane: i,
      protocol: 'wireguard',
      tier,
      publicKey: i === 0 ? opts.publicKey : wgKeyPair().publicKey,
      params: null,
      endpoints: [{ host: opts.host ?? '192.0.2.10', port: (opts.port ?? 51820) + i }],
    })),
    egressIps: opts.egressIps ?? ['192.0.2.10'],
  });
  if (reg.status !== 201) throw new Error(`gateway register failed: ${JSON.stringify(reg.body)}`);
  return reg.body as { gatewayId: string; credential: string; scope: string };
}

/**
 * Repeats a request answered 503 store_unavailable, as a client following its
 * Retry-After would: such an answer changed nothing (the request waited more
 * than 3 s for a database connection, e.g. while other test files' DROP
 * DATABASE checkpoints stall this shared Postgres). Any other answer returns.
 */
export async function retryingStoreUnavailable<R extends { status: number; body: any }>(what: string, call: () => Promise<R>, timeoutMs = 120_000): Promise<R> {
  return until(what, async () => {
    const r = await call();
    return r.status === 503 && r.body?.error?.code === 'store_unavailable' ? undefined : r;
  }, timeoutMs, 500);
}
