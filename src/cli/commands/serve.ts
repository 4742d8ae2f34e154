import { writeFile, readFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { createControlPlane, openStore, type StoreHandle } from '../../control-plane/server.js';
import { loadKeyRing } from '../../control-plane/keyring.js';
import { createOperatorToken } from '../../control-plane/services/operators.js';
import { checkPoolSettings } from '../../control-plane/pool-settings.js';
import type { Config } from '../../control-plane/config.js';
import { configFor, withDataDir } from '../common.js';
import { fail } from '../output.js';

/**
 * Creates what a control plane needs on first use: data directory, online
 * keys, store and schema, and one operator token written to a 0600 file.
 */
export async function initDataDir(config: Config, say: (line: string) => void, given?: StoreHandle): Promise<void> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await loadKeyRing(config.dataDir, { create: true, now: new Date() });
  const store = given ?? (await openStore(config));
  try {
    await checkPoolSettings(store.db, config);
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
  withDataDir(program.command('init'))
    .description('create the data directory, online signing keys, the store and an operator token')
    .action(async (opts: { dataDir: string }) => {
      try {
        const config = configFor(opts);
        await initDataDir(config, (l) => process.stdout.write(`${l}\n`));
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
        const config = configFor(opts, { ...(opts.host ? { host: opts.host } : {}), ...(opts.port !== undefined ? { port: opts.port } : {}) });
        const store = await openStore(config);
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
