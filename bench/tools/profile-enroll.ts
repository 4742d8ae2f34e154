/**
 * Profiling aid (not part of the suite): runs `damm serve` under --cpu-prof
 * on a store of N devices, drives M enrollments with 16 clients, and prints
 * where the control plane's CPU went.
 *   node --import tsx bench/tools/profile-enroll.ts [devices=100000] [enrollments=8000]
 */
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createBenchDatabase } from '../lib/pg.js';
import { ensureBuilt, keepGatewayOnline, registerGateway, startControlPlane } from '../lib/cp.js';
import { analyze, feedSeederFor, hasFeed, issuePasses, seedUpTo } from '../lib/seed.js';
import { enrollLoad } from '../lib/load.js';
import { cpuBetween, snapshot } from '../lib/cpu.js';
import { backendPids } from '../lib/pg.js';

const devices = Number(process.argv[2] ?? 100_000);
const count = Number(process.argv[3] ?? 8000);
// PROFILE=0 skips --cpu-prof; CP_ENV="DAMM_LOG_LEVEL=warn ..." sets control-plane settings for an A/B run.
const profile = process.env['PROFILE'] !== '0';
const cpEnv = Object.fromEntries((process.env['CP_ENV'] ?? '').split(' ').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
ensureBuilt((m) => console.error(m));
const dir = await mkdtemp(path.join(tmpdir(), 'damm-prof-'));
const database = await createBenchDatabase();
const cp = await startControlPlane({ databaseUrl: database.url, env: cpEnv, nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [] });
try {
  const gw = await registerGateway(cp);
  const stop = await keepGatewayOnline(database.db, cp, gw);
  const feed = (await hasFeed(database.db)) ? await feedSeederFor(cp.dataDir) : undefined;
  await seedUpTo(database.db, devices, { gatewayId: gw.gatewayId, ...(feed ? { feed } : {}) });
  const passes = await issuePasses(database.db, count + 500);
  await analyze(database.db);
  await enrollLoad({ url: cp.url, passes: passes.slice(0, 500), concurrency: 16 });
  const pg = await backendPids(database.db, database.name);
  const a = snapshot([cp.pid, ...pg]);
  const r = await enrollLoad({ url: cp.url, passes: passes.slice(500), concurrency: 16 });
  const b = snapshot([cp.pid, ...pg]);
  const cpu = cpuBetween(a, b, { cp: [cp.pid], pg });
  console.log(`${JSON.stringify(cpEnv)} ${r.count} enrollments in ${(r.wallMs / 1000).toFixed(2)} s = ${((r.count / r.wallMs) * 1000).toFixed(0)}/s; CPU ms/enroll: cp ${(cpu['cp']! / r.count).toFixed(3)}, pg ${(cpu['pg']! / r.count).toFixed(3)}, loadgen ${(cpu.loadgen / r.count).toFixed(3)}; machine busy ${cpu.machineBusyPct}%`, r.statuses);
  stop();
} finally {
  await cp.stop();
  await database.drop();
}
const f = (await readdir(dir)).find((x) => x.endsWith('.cpuprofile'));
if (f) spawnSync(process.execPath, ['--import', 'tsx', path.join(path.dirname(new URL(import.meta.url).pathname), 'cpuprofile-top.ts'), path.join(dir, f), '40'], { stdio: 'inherit' });
