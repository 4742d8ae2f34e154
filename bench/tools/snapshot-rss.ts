/**
 * Where the control plane's memory goes while it serves a gateway snapshot:
 * seeds N devices (default 100,000) once, then for each node-argument variant
 * (e.g. `--max-semi-space-size=4`) starts a fresh `damm serve`, lets it idle,
 * and fetches the snapshot (body streamed and discarded) while sampling VmRSS.
 * A/B another build with DAMM_BENCH_CLI=/path/to/dist/cli/main.js.
 *   node --import tsx bench/tools/snapshot-rss.ts [devices] ['' '--max-semi-space-size=4' ...]
 */
import http from 'node:http';
import { rm } from 'node:fs/promises';
import { createBenchDatabase } from '../lib/pg.js';
import { registerGateway, startControlPlane } from '../lib/cp.js';
import { analyze, feedSeederFor, seedUpTo } from '../lib/seed.js';
import { processMemMB } from '../lib/cpu.js';

const devices = Number(process.argv[2] ?? 100_000);
const variants = process.argv.length > 3 ? process.argv.slice(3) : [''];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fetchDiscard(url: string, token: string): Promise<{ status: number; bytes: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http.get(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ms: Math.round(performance.now() - t0) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

const database = await createBenchDatabase();
let cp = await startControlPlane({ databaseUrl: database.url });
const dataDir = cp.dataDir;
try {
  const gw = await registerGateway(cp);
  await seedUpTo(database.db, devices, { gatewayId: gw.gatewayId, feed: await feedSeederFor(dataDir) });
  await analyze(database.db);
  await cp.stop({ keepData: true });
  for (const v of variants) {
    const words = v ? v.split(' ') : [];
    // Words NAME=value set the environment (a setting under test); the rest are node arguments.
    const env = Object.fromEntries(words.filter((w) => /^[A-Z_]+=/.test(w)).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
    cp = await startControlPlane({ databaseUrl: database.url, dataDir, env, nodeArgs: words.filter((w) => !/^[A-Z_]+=/.test(w)) });
    await sleep(2000);
    const idle = processMemMB(cp.pid)!.rssMB;
    for (let round = 0; round < 3; round++) {
      let peak = 0;
      const t = setInterval(() => (peak = Math.max(peak, processMemMB(cp.pid)?.rssMB ?? 0)), 25);
      const r = await fetchDiscard(`${cp.url}/v1/gateways/${gw.gatewayId}/snapshot`, gw.credential);
      await sleep(500);
      clearInterval(t);
      console.log(JSON.stringify({ variant: v || '(none)', round, idleMB: idle, peakMB: peak, afterMB: processMemMB(cp.pid)!.rssMB, status: r.status, MB: Math.round(r.bytes / 2 ** 20 * 10) / 10, ms: r.ms }));
    }
    await cp.stop({ keepData: true });
  }
} finally {
  await cp.stop().catch(() => {});
  await rm(dataDir, { recursive: true, force: true });
  await database.drop();
}
process.exit(0);
