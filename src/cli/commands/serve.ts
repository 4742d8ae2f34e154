import { writeFile, readFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { StoreHandle } from '../../control-plane/server.js';
import type { Config } from '../../control-plane/config.js';
import { configFor, withDataDir } from '../common.js';
import { fail } from '../output.js';
import { parseDuration } from './operator.js';

export interface InitTrustFlags {
  rootKeys?: number;
  rootThreshold?: number;
  rootValidity?: number;
  keyValidity?: number;
}

/**
 * Creates what a control plane needs on first use: data directory, store and
 * schema, online keys and the offline root role with root v1 certifying them
 * (src/control-plane/trust/init.ts), and one operator token written to a 0600
 * file. Idempotent: with a root already published it changes nothing there.
 */
export async function initDataDir(config: Config, say: (line: string) => void, given?: StoreHandle, trust: InitTrustFlags = {}): Promise<void> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  // The server, store and trust modules load here, when a command runs, not for `damm --help` (src/cli/main.ts).
  const { openStore } = await import('../../control-plane/server.js');
  const { initTrust } = await import('../../control-plane/trust/init.js');
  const { createOperatorToken } = await import('../../control-plane/services/operators.js');
  const { checkPoolSettings } = await import('../../control-plane/pool-settings.js');
  const store = given ?? (await openStore(config));
  try {
    await checkPoolSettings(store.db, config);
    const t = await initTrust({
      db: store.db,
      dataDir: config.dataDir,
      now: new Date(),
      say,
      ...(trust.rootKeys !== undefined ? { rootKeys: trust.rootKeys } : {}),
      ...(trust.rootThreshold !== undefined ? { rootThreshold: trust.rootThreshold } : {}),
      ...(trust.rootValidity !== undefined ? { rootValiditySeconds: trust.rootValidity } : {}),
      ...(trust.keyValidity !== undefined ? { keyValiditySeconds: trust.keyValidity } : {}),
    });
    if (!t.created) say(`trust root v${t.root.version} (root v1 sha256 ${t.pinSha256})`);
    const tokenFile = path.join(config.dataDir, 'operator-token');
    const existing = await readFile(tokenFile, 'utf8').catch(() => null);
    if (!existing) {
      const { token } = await createOperatorToken(store.db, 'admin', new Date());
      await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
      say(`operator token written to ${tokenFile} (mode 0600)`);
    }
    say(`store ready (${store.kind}); keys in ${path.join(config.dataDir, 'keys')}`);
  } finally {
    if (!given) await store.close();
  }
}

export function registerServe(program: Command): void {
  const count = (name: string) => (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 16) throw new Error(`${name} must be a whole number from 1 to 16`);
    return n;
  };
  withDataDir(program.command('init'))
    .description('create the data directory, the store, online signing keys, the offline root (root v1) and an operator token')
    .option('--root-keys <n>', 'how many offline root keys to create', count('--root-keys'), 1)
    .option('--root-threshold <m>', 'how many root keys must sign each new root', count('--root-threshold'), 1)
    .option('--root-validity <duration>', 'root v1 lifetime, e.g. 365d', parseDuration)
    .option('--key-validity <duration>', 'online key validity window, e.g. 365d', parseDuration)
    .action(async (opts: { dataDir: string; rootKeys: number; rootThreshold: number; rootValidity?: number; keyValidity?: number }) => {
      try {
        const config = await configFor(opts);
        await initDataDir(config, (l) => process.stdout.write(`${l}\n`), undefined, {
          rootKeys: opts.rootKeys,
          rootThreshold: opts.rootThreshold,
          ...(opts.rootValidity !== undefined ? { rootValidity: opts.rootValidity } : {}),
          ...(opts.keyValidity !== undefined ? { keyValidity: opts.keyValidity } : {}),
        });
        process.stdout.write(`initialised ${config.dataDir}\n`);
      } catch (err) {
        fail(err);
      }
    });

  withDataDir(program.command('serve'))
    .description('run the control plane (embedded Postgres unless DATABASE_URL is set)')
    .option('--host <host>', 'listen address (env DAMM_HOST)')
    .option('--port <port>', 'listen port (env DAMM_PORT)', (v) => Number(v))
    .action(async (opts: { dataDir: string; host?: string; port?: number }) => {
      try {
        const config = await configFor(opts, { ...(opts.host ? { host: opts.host } : {}), ...(opts.port !== undefined ? { port: opts.port } : {}) });
        const { createControlPlane, openStore } = await import('../../control-plane/server.js');
        const store = await openStore(config, () => {}, (l) => process.stdout.write(`${l}\n`));
        await initDataDir(config, (l) => process.stdout.write(`${l}\n`), store);
        const cp = await createControlPlane({ config, store });
        const url = await cp.app.listen({ host: config.host, port: config.port });
        await writeFile(path.join(config.dataDir, 'url'), `${url}\n`, { mode: 0o600 });
        process.stdout.write(`DAMM control plane listening on ${url}\n  wizard:  ${url}/get/\n  posture: ${url}/v1/posture\n  API:     ${url}/v1/openapi.json\n`);
        const stop = async () => {
          await cp.close();
          await store.close();
          process.exit(0);
        };
        process.once('SIGINT', () => void stop());
        process.once('SIGTERM', () => void stop());
      } catch (err) {
        fail(err);
      }
    });
}
