/**
 * memory: the control plane's resident memory (VmRSS from /proc) at 100k
 * devices: a fresh `damm serve` process idle on that store, under a 16-client
 * enrollment load, idle again afterwards, and while it serves a gateway the
 * full snapshot of its scope (what an agent fetches on cold start).
 */
import type { Benchmark, BenchOutput, RunContext } from './lib/result.js';
import { createBenchDatabase } from './lib/pg.js';
import { api, buildNotes, keepGatewayOnline, registerGateway, startControlPlane, type ControlPlaneProcess } from './lib/cp.js';
import { analyze, feedSeederFor, hasFeed, issuePasses, seedUpTo } from './lib/seed.js';
import { enrollLoad } from './lib/load.js';
import { processMemMB } from './lib/cpu.js';
import { distribution, round } from './lib/stats.js';
import http from 'node:http';
import { rm } from 'node:fs/promises';

export const FULL = { devices: 100_000, settleMs: 5_000, load: 8_000, concurrency: 16, sampleEveryMs: 50 };
export const SMOKE = { devices: 300, settleMs: 300, load: 60, concurrency: 16, sampleEveryMs: 20 };

/** Samples a process's RSS until stopped. */
function sampler(pid: number, everyMs: number) {
  const samples: Array<{ tMs: number; rssMB: number }> = [];
  const t0 = performance.now();
  const take = () => {
    const m = processMemMB(pid);
    if (m) samples.push({ tMs: Math.round(performance.now() - t0), rssMB: m.rssMB });
  };
  take();
  const t = setInterval(take, everyMs);
  return {
    stop: () => {
      clearInterval(t);
      take();
      const rss = samples.map((s) => s.rssMB);
      return { samples, peakMB: Math.max(...rss), meanMB: round(rss.reduce((a, b) => a + b, 0) / rss.length, 1), lastMB: rss[rss.length - 1]! };
    },
  };
}

/** GET with the body streamed and discarded (the client must not hold 50 MB either). */
function fetchDiscard(url: string, token: string): Promise<{ status: number; bytes: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ms: round(performance.now() - t0, 1) }));
    });
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const bench: Benchmark = {
  name: 'memory',
  title: 'Control-plane RSS at 100k devices: idle, under enrollment load, serving a full gateway snapshot',
  async run(ctx: RunContext): Promise<BenchOutput> {
    const P = ctx.smoke ? SMOKE : FULL;
    const notes = buildNotes((m) => ctx.progress.note(m));
    const database = await createBenchDatabase();
    let cp: ControlPlaneProcess | null = await startControlPlane({ databaseUrl: database.url });
    const dataDir = cp.dataDir;
    let stopBeat = () => {};
    try {
      const gw = await registerGateway(cp);
      stopBeat = await keepGatewayOnline(database.db, cp, gw);
      const feed = (await hasFeed(database.db)) ? await feedSeederFor(cp.dataDir) : undefined;
      await seedUpTo(database.db, P.devices, { gatewayId: gw.gatewayId, ...(feed ? { feed } : {}), onProgress: (d, n) => ctx.progress.update(`seeding ${d}/${n} devices`) });
      const passes = await issuePasses(database.db, P.load);
      await analyze(database.db);
      // A fresh process on the large store: what an operator's `damm serve` holds after a restart.
      stopBeat();
      await cp.stop({ keepData: true });
      cp = await startControlPlane({ databaseUrl: database.url, dataDir });
      stopBeat = await keepGatewayOnline(database.db, cp, gw);
      const afterStart = processMemMB(cp.pid)!;
      ctx.progress.update(`idle for ${P.settleMs / 1000} s`, true);
      const idleS = sampler(cp.pid, P.sampleEveryMs * 4);
      await sleep(P.settleMs);
      const idle = idleS.stop();

      const loadS = sampler(cp.pid, P.sampleEveryMs);
      const load = await enrollLoad({ url: cp.url, passes, concurrency: P.concurrency, onProgress: (d, n) => ctx.progress.update(`load: ${d}/${n} enrollments, RSS ${processMemMB(cp!.pid)?.rssMB ?? '?'} MB`) });
      const underLoad = loadS.stop();
      if ((load.statuses['201'] ?? 0) !== load.count) notes.push(`load: ${JSON.stringify(load.statuses)} ${load.failures.join(' / ')}`);

      ctx.progress.update(`idle after load for ${P.settleMs / 1000} s`, true);
      const afterS = sampler(cp.pid, P.sampleEveryMs * 4);
      await sleep(P.settleMs);
      const idleAfter = afterS.stop();

      let snapshot: Record<string, unknown> | null = null;
      const snapS = sampler(cp.pid, P.sampleEveryMs / 2);
      const snap = await fetchDiscard(`${cp.url}/v1/gateways/${gw.gatewayId}/snapshot`, gw.credential).catch((e: Error) => ({ status: -1, bytes: 0, ms: 0, error: e.message }));
      await sleep(P.settleMs / 2);
      const duringSnap = snapS.stop();
      if (snap.status === 200) snapshot = { ...snap, rss: { peakMB: duringSnap.peakMB, afterMB: duringSnap.lastMB } };
      else notes.push(`snapshot route answered ${snap.status}: not measured`);
      const hwm = processMemMB(cp.pid)!;
      ctx.progress.note(`RSS idle ${idle.lastMB} MB, under load peak ${underLoad.peakMB} MB, idle after ${idleAfter.lastMB} MB${snapshot ? `, serving snapshot peak ${duringSnap.peakMB} MB (${(snap.bytes / 2 ** 20).toFixed(1)} MB in ${snap.ms} ms)` : ''}`);
      const check = await api(cp.url, 'GET', '/healthz');
      if (check.status >= 500) notes.push(`health after the run: ${check.status}`);
      return {
        status: 'ok',
        parameters: { ...P, process: 'node dist/cli/main.js serve (feed, admissions and wizard as always), restarted on the seeded store before measuring' },
        samples: { idleRssMB: idle.samples, loadRssMB: underLoad.samples, idleAfterRssMB: idleAfter.samples, snapshotRssMB: duringSnap.samples, loadLatenciesMs: load.latenciesMs.map((x) => round(x, 2)) },
        summary: {
          devices: P.devices,
          rssAfterStartMB: afterStart.rssMB,
          idle: { lastMB: idle.lastMB, peakMB: idle.peakMB },
          underLoad: { peakMB: underLoad.peakMB, meanMB: underLoad.meanMB, enrollments: load.count, throughputPerS: round((load.count / load.wallMs) * 1000, 1), latency: distribution(load.latenciesMs) },
          idleAfterLoad: { lastMB: idleAfter.lastMB, peakMB: idleAfter.peakMB },
          snapshot,
          vmHwmMB: hwm.hwmMB,
        },
        targets: {
          rssUnderLoad: {
            target: `control-plane RSS ≤ 150 MB at ${P.devices.toLocaleString('en')} devices (idle and under enrollment load)`,
            measured: `idle ${idle.lastMB} MB, under load peak ${underLoad.peakMB} MB`,
            met: ctx.smoke ? null : Math.max(idle.peakMB, underLoad.peakMB) <= 150,
          },
          ...(snapshot
            ? {
                rssServingSnapshot: {
                  target: `control-plane RSS ≤ 150 MB while a gateway fetches the ${P.devices.toLocaleString('en')}-record snapshot`,
                  measured: `peak ${duringSnap.peakMB} MB (VmHWM ${hwm.hwmMB} MB); response ${(snap.bytes / 2 ** 20).toFixed(1)} MB in ${snap.ms} ms`,
                  met: ctx.smoke ? null : duringSnap.peakMB <= 150,
                },
              }
            : {}),
        },
        notes,
      };
    } finally {
      stopBeat();
      await cp?.stop();
      await rm(dataDir, { recursive: true, force: true });
      await database.drop();
    }
  },
};
