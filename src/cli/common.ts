import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../control-plane/config.js';

/** Flags every command shares: where the data directory is. */
export function withDataDir(cmd: Command): Command {
  return cmd.option('--data-dir <dir>', 'DAMM data directory (env DAMM_DATA_DIR)', process.env.DAMM_DATA_DIR ?? '.damm');
}

export function withApi(cmd: Command): Command {
  return withDataDir(cmd)
    .option('--url <url>', 'control plane URL (env DAMM_URL; default: the one "damm serve" recorded)')
    .option('--token <token>', 'operator token (env DAMM_OPERATOR_TOKEN; default: <data-dir>/operator-token)')
    .option('--json', 'print JSON for scripts');
}

/** Loads the configuration schema (typebox) only when a command runs: main.ts keeps --help and --version free of it. */
export async function configFor(opts: { dataDir: string }, overrides: Partial<Config> = {}): Promise<Config> {
  const { loadConfig } = await import('../control-plane/config.js');
  return loadConfig(process.env, { dataDir: path.resolve(opts.dataDir), ...overrides });
}
