/**
 * burst: 10,000 enrollments issued at once, split across two control-plane
 * processes on one Postgres (the second holds a copy of the first's keys, as
 * a second host would), with one gateway agent following the feed of the
 * first. Measured: time from the first request until wireguard-go holds
 * every enrolled peer, and lost / extra peers (interface vs. store).
 */
import { cp as copyDir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Benchmark, BenchOutput, RunContext } from './lib/result.js';
import { createBenchDatabase } from './lib/pg.js';
import { buildNotes, startControlPlane, type ControlPlaneProcess } from './lib/cp.js';
import { hasFeed, issuePasses, randomPublicKeys } from './lib/seed.js';
import { enrollLoad } from './lib/load.js';
import { gatewayPrereqProblem, unavailableOutput, gatewayToken, newKit, startAgent, tappedDaemon } from './lib/gateway.js';
import { interfacePeers } from './lib/uapi-tap.js';
import { distribution, round } from './lib/stats.js';
import { processMemMB } from './lib/cpu.js';

export const FULL = { enrollments: 10_000, controlPlanes: 2, socketsPerControlPlane: 256, settleTimeoutMs: 120_000 };
export const SMOKE = { enrollments: 60, controlPlanes: 2, socketsPerControlPlane: 16, settleTimeoutMs: 20_000 };

export const bench: Benchmark = {
  name: 'burst',
  title: '10,000 concurrent enrollments on two control planes: time until the gateway holds them all',
  async run(ctx: RunContext): Promise<BenchOutput> {
    const P = ctx.smoke ? SMOKE : FULL;
    const problem = gatewayPrereqProblem();
    if (problem) return unavailableOutput(P, problem);
    const notes = buildNotes((m) => ctx.progress.note(m));
    const database = await createBenchDatabase();
    const cps: ControlPlaneProcess[] = [];
    const dirs: string[] = [];
    const kit = await newKit();
    let agent: Awaited<ReturnType<typeof startAgent>> | null = null;
    try {
      if (!(await hasFeed(database.db))) throw new Error('this build has no gateway feed (feed_events): nothing for an agent to follow');
      cps.push(await startControlPlane({ databaseUrl: database.url }));
      for (let i = 1; i < P.controlPlanes; i++) {
        // A second host: its own data directory with a copy of the first one's online keys.
        const dir = await mkdtemp(path.join(tmpdir(), 'damm-bench-cp2-'));
        dirs.push(dir);
        await copyDir(path.join(cps[0]!.dataDir, 'keys'), path.join(dir, 'keys'), { recursive: true });
        cps.push(await startControlPlane({ databaseUrl: database.url, dataDir: dir }));
      }
      const td = await tappedDaemon(kit);
      const { token } = await gatewayToken(cps[0]!);
      agent = await startAgent({ controlPlane: cps[0]!.url, token, ifname: td.daemon.ifname, tapDir: td.tapDir });
      await agent.waitForLog('gateway agent running', 60_000);
      const passes = await issuePasses(database.db, P.enrollments);
      const keys = randomPublicKeys(P.enrollments);
      const enrolled = new Set<string>();
      let lastResponse = 0;
      let cpPeak = 0;
      const cpSampler = setInterval(() => {
        for (const c of cps) cpPeak = Math.max(cpPeak, processMemMB(c.pid)?.rssMB ?? 0);
      }, 100);
      ctx.progress.note(`firing ${P.enrollments} enrollments at ${cps.length} control planes (${P.socketsPerControlPlane} keep-alive sockets each)`);
      const t0 = performance.now();
      const per = Math.ceil(P.enrollments / cps.length);
      const loads = await Promise.all(
        cps.map((c, ci) =>
          enrollLoad({
            url: c.url,
            passes: passes.slice(ci * per, (ci + 1) * per),
            publicKeys: keys.slice(ci * per, (ci + 1) * per),
            concurrency: per, // every request issued at once; the sockets below carry them
            maxSockets: P.socketsPerControlPlane,
            timeoutMs: 120_000,
            onResponse: (_i, a, key) => {
              if (a.status === 201) enrolled.add(key);
              lastResponse = Math.max(lastResponse, a.t1);
            },
            onProgress: () => ctx.progress.update(`${enrolled.size} enrolled, ${td.tap.liveAt.size} live`),
          }),
        ),
      );
      const responsesMs = lastResponse - t0;
      // Wait for the gateway to hold every enrolled key.
      const deadline = performance.now() + P.settleTimeoutMs;
      const allLive = () => [...enrolled].every((k) => td.tap.liveAt.has(k));
      while (!allLive() && performance.now() < deadline) {
        ctx.progress.update(`${enrolled.size} enrolled, ${td.tap.liveAt.size} live`);
        await new Promise((r) => setTimeout(r, 20));
      }
      clearInterval(cpSampler);
      const liveTimes = [...enrolled].map((k) => td.tap.liveAt.get(k)).filter((t): t is number => t !== undefined);
      const convergedMs = liveTimes.length ? Math.max(...liveTimes) - t0 : NaN;
      // The truth: the interface against the store.
      const onIf = await interfacePeers(td.daemon.socketPath);
      const inStore = new Set((await database.db.query<{ public_key: string }>("SELECT public_key FROM devices WHERE state = 'active' AND scope = 'region:NL'")).rows.map((r) => r.public_key));
      const lost = [...inStore].filter((k) => !onIf.has(k)).length;
      const extra = [...onIf].filter((k) => !inStore.has(k)).length;
      const failed = P.enrollments - enrolled.size;
      const statuses: Record<string, number> = {};
      for (const l of loads) for (const [k, v] of Object.entries(l.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
      if (failed) notes.push(`${failed} enrollment(s) did not succeed: ${JSON.stringify(statuses)} ${loads.flatMap((l) => l.failures).slice(0, 3).join(' / ')}`);
      const lat = distribution(loads.flatMap((l) => l.latenciesMs));
      const liveRel = liveTimes.map((t) => t - t0).sort((a, b) => a - b);
      const at = (q: number) => round(liveRel[Math.min(liveRel.length - 1, Math.floor(q * liveRel.length))] ?? NaN, 0);
      ctx.progress.note(`all ${enrolled.size} responses in ${(responsesMs / 1000).toFixed(2)} s; gateway holds them all after ${(convergedMs / 1000).toFixed(2)} s; lost ${lost}, extra ${extra}`);
      return {
        status: 'ok',
        parameters: { ...P, agent: 'node dist/cli/main.js gateway run --backend uapi, following control plane #1', clients: 'one process, node:http keep-alive; requests split evenly across the control planes' },
        samples: { liveAfterStartMs: liveRel.map((x) => round(x, 1)), httpLatencyMs: loads.flatMap((l) => l.latenciesMs).map((x) => round(x, 1)) },
        summary: {
          enrollments: P.enrollments,
          succeeded: enrolled.size,
          statuses,
          allResponsesMs: round(responsesMs, 0),
          convergedMs: round(convergedMs, 0),
          enrollPerS: round((enrolled.size / responsesMs) * 1000, 0),
          liveAfterStartMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), last: round(convergedMs, 0) },
          httpLatency: lat,
          lost,
          extra,
          peersOnInterface: onIf.size,
          activeInStore: inStore.size,
          uapi: { setRequests: td.tap.setRequests, getRequests: td.tap.getRequests, failedSets: td.tap.failedSets },
          rssPeakMB: { agent: agent.rss().peakMB, controlPlaneMax: cpPeak },
          headline: [
            `${P.enrollments.toLocaleString('en')} enrollments issued at once against ${cps.length} \`damm serve\` processes on one Postgres (${P.socketsPerControlPlane} keep-alive connections each); one agent follows the feed.`,
            '',
            `- every HTTP response in **${(responsesMs / 1000).toFixed(2)} s** (${round((enrolled.size / responsesMs) * 1000, 0)} enrollments/s, response p50 ${round(lat.p50, 0)} ms, p99 ${round(lat.p99, 0)} ms)`,
            `- gateway holds all of them after **${(convergedMs / 1000).toFixed(2)} s** (half of them at ${(at(0.5) / 1000).toFixed(2)} s)`,
            `- lost peers **${lost}**, extra peers **${extra}** (get=1 of the interface vs. active devices in the store); ${td.tap.setRequests} set requests`,
            `- peak RSS: agent ${agent.rss().peakMB} MB, control plane ${cpPeak} MB`,
          ],
        },
        targets: {
          burst: {
            target: `${P.enrollments.toLocaleString('en')}-enrollment burst: 0 lost, 0 extra, gateway holds all within 15 s`,
            measured: `${(convergedMs / 1000).toFixed(2)} s, ${lost} lost, ${extra} extra${failed ? `, ${failed} enrollments failed` : ''}`,
            met: ctx.smoke ? null : lost === 0 && extra === 0 && failed === 0 && convergedMs <= 15_000,
          },
        },
        notes,
      };
    } finally {
      await agent?.stop().catch(() => {});
      await kit.cleanup().catch((e: Error) => notes.push(`cleanup: ${e.message}`));
      for (const c of cps) await c.stop().catch(() => {});
      for (const d of dirs) await rm(d, { recursive: true, force: true });
      await database.drop();
    }
  },
};
