/**
 * enroll-to-peer-live: from the enrollment's HTTP response to the peer being
 * live on a real wireguard-go interface driven by the real agent
 * (`damm gateway run`, UAPI backend), over ≥ 1,000 enrollments one at a time
 * (idle) and under a concurrent burst (16 clients). "Live" is the instant
 * wireguard-go answered errno=0 to the set request carrying the peer, seen
 * by a tap on the UAPI socket (bench/lib/uapi-tap.ts). The gateway already
 * serves a seeded population when measurement starts.
 */
import http from 'node:http';
import type { Benchmark, BenchOutput, RunContext } from './lib/result.js';
import { createBenchDatabase } from './lib/pg.js';
import { buildNotes, startControlPlane } from './lib/cp.js';
import { feedSeederFor, hasFeed, issuePasses, randomPublicKeys, seedUpTo, analyze } from './lib/seed.js';
import { enrollLoad, postEnroll } from './lib/load.js';
import { gatewayPrereqProblem, giveUpAfter, unavailableOutput, gatewayToken, newKit, startAgent, tappedDaemon } from './lib/gateway.js';
import { interfacePeers } from './lib/uapi-tap.js';
import { distribution, round } from './lib/stats.js';

/** paced: open-loop arrivals at a fixed rate well below saturation, to separate pipeline latency from CPU queueing. */
export const FULL = { preseed: 10_000, warmup: 50, idle: 1_000, burst: 3_000, concurrency: 16, paced: 1_000, pacedPerS: 250, liveTimeoutMs: 30_000 };
export const SMOKE = { preseed: 50, warmup: 3, idle: 10, burst: 32, concurrency: 16, paced: 10, pacedPerS: 100, liveTimeoutMs: 15_000 };

export const bench: Benchmark = {
  name: 'enroll-to-peer-live',
  title: 'Enrollment response → peer live on a real wireguard-go interface, driven by the agent',
  async run(ctx: RunContext): Promise<BenchOutput> {
    const P = ctx.smoke ? SMOKE : FULL;
    const problem = gatewayPrereqProblem();
    if (problem) return unavailableOutput(P, problem);
    const notes = buildNotes((m) => ctx.progress.note(m));
    const database = await createBenchDatabase();
    const cp = await startControlPlane({ databaseUrl: database.url });
    const kit = await newKit();
    let agent: Awaited<ReturnType<typeof startAgent>> | null = null;
    try {
      if (!(await hasFeed(database.db))) throw new Error('this build has no gateway feed (feed_events): nothing for an agent to follow');
      const td = await tappedDaemon(kit);
      const { gatewayId, token } = await gatewayToken(cp);
      await seedUpTo(database.db, P.preseed, { gatewayId, feed: await feedSeederFor(cp.dataDir), onProgress: (d, n) => ctx.progress.update(`seeding ${d}/${n} devices`) });
      await analyze(database.db);
      const passes = await issuePasses(database.db, P.warmup + P.idle + P.burst + P.paced);
      const agentStart = performance.now();
      agent = await startAgent({ controlPlane: cp.url, token, ifname: td.daemon.ifname, tapDir: td.tapDir });
      await agent.waitForLog('gateway agent running', 120_000);
      const deadline = Date.now() + 120_000;
      while (td.tap.liveAt.size < P.preseed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      ctx.progress.note(`agent up with ${td.tap.liveAt.size} seeded peers live in ${((performance.now() - agentStart) / 1000).toFixed(1)} s`);

      const url = new URL('/v1/enroll', cp.url);
      const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const keys = randomPublicKeys(P.warmup + P.idle + P.burst + P.paced);
      // Idle: one enrollment at a time; the next starts once the previous peer is live.
      const idleLive: number[] = [];
      const idleHttp: number[] = [];
      let idleLost = 0;
      for (let i = 0; i < P.warmup + P.idle; i++) {
        const a = await postEnroll(httpAgent, url, passes[i]!, keys[i]!);
        if (a.status !== 201) throw new Error(`enrollment failed: ${a.status} ${a.error ?? a.text.slice(0, 300)}`);
        const live = await Promise.race([td.tap.whenLive(keys[i]!), giveUpAfter(P.liveTimeoutMs)]);
        if (i < P.warmup) continue;
        if (live === null) idleLost++;
        else idleLive.push(live - a.t1);
        idleHttp.push(a.t1 - a.t0);
        ctx.progress.update(`idle ${i + 1 - P.warmup}/${P.idle}: last ${live === null ? 'not live' : `${(live - a.t1).toFixed(2)} ms`}`);
      }
      httpAgent.destroy();
      // Burst: 16 clients enroll back to back; each peer's latency runs from its own response.
      const burstLive: Array<Promise<number | null>> = [];
      const burstResp: number[] = [];
      const first = P.warmup + P.idle;
      const burstStart = performance.now();
      const load = await enrollLoad({
        url: cp.url,
        passes: passes.slice(first, first + P.burst),
        publicKeys: keys.slice(first, first + P.burst),
        concurrency: P.concurrency,
        onResponse: (_i, a, key) => {
          if (a.status !== 201) return;
          burstResp.push(a.t1 - a.t0);
          burstLive.push(Promise.race([td.tap.whenLive(key).then((t) => t - a.t1), giveUpAfter(P.liveTimeoutMs)]));
        },
        onProgress: (d, n) => ctx.progress.update(`burst ${d}/${n} enrolled, ${td.tap.liveAt.size - P.preseed - P.warmup - P.idle} live`),
      });
      const burstResults = await Promise.all(burstLive);
      const burstMs = performance.now() - burstStart;
      // The agent's apply cycle during the burst: how often a set reached the daemon and how many peers each carried.
      const burstSets = td.tap.requests.filter((q) => q.kind === 'set' && q.upserts > 0 && q.t >= burstStart && q.t <= burstStart + burstMs);
      const cycle = {
        sets: burstSets.length,
        intervalMs: distribution(burstSets.slice(1).map((q, i) => q.t - burstSets[i]!.t)),
        peersPerSet: distribution(burstSets.map((q) => q.upserts)),
      };
      const burstLatencies = burstResults.filter((x): x is number => x !== null);
      const burstLost = burstResults.length - burstLatencies.length;
      // Paced: one enrollment every 1/pacedPerS seconds whatever the previous one is doing (open loop).
      const pacedAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
      const pacedFirst = first + P.burst;
      const pacedLive: Array<Promise<number | null>> = [];
      const pacedStart = performance.now();
      const pacedSent: Array<Promise<void>> = [];
      for (let j = 0; j < P.paced; j++) {
        const due = pacedStart + (j * 1000) / P.pacedPerS;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const i = pacedFirst + j;
        pacedSent.push(postEnroll(pacedAgent, url, passes[i]!, keys[i]!).then((a) => {
          if (a.status === 201) pacedLive.push(Promise.race([td.tap.whenLive(keys[i]!).then((t) => t - a.t1), giveUpAfter(P.liveTimeoutMs)]));
        }));
        ctx.progress.update(`paced ${j + 1}/${P.paced} at ${P.pacedPerS}/s`);
      }
      await Promise.all(pacedSent);
      pacedAgent.destroy();
      const pacedResults = await Promise.all(pacedLive);
      const pacedLatencies = pacedResults.filter((x): x is number => x !== null);
      const pacedLost = P.paced - pacedLatencies.length;
      if ((load.statuses['201'] ?? 0) !== load.count) notes.push(`burst: ${JSON.stringify(load.statuses)} ${load.failures.join(' / ')}`);
      // Cross-check against the interface itself.
      const onIf = await interfacePeers(td.daemon.socketPath);
      const missing = keys.filter((k) => !onIf.has(k)).length;
      const idle = distribution(idleLive);
      const burst = distribution(burstLatencies);
      const paced = distribution(pacedLatencies);
      const negative = [...idleLive, ...burstLatencies].filter((x) => x < 0).length;
      if (negative) notes.push(`${negative} peer(s) went live before their enrollment response reached the client (negative latency kept as measured)`);
      ctx.progress.note(`idle p50 ${idle.p50} ms p99 ${idle.p99} ms; burst p50 ${burst.p50} ms p99 ${burst.p99} ms (${round((load.count / load.wallMs) * 1000, 0)} enrollments/s); paced ${P.pacedPerS}/s p50 ${paced.p50} ms p99 ${paced.p99} ms; missing on the interface: ${missing}`);
      const agentRss = agent.rss();
      const summary = {
        preseededPeers: P.preseed,
        idle: { live: idle, http: distribution(idleHttp), notLive: idleLost },
        burst: { live: burst, http: distribution(burstResp), notLive: burstLost, enrollments: load.count, enrollPerS: round((load.count / load.wallMs) * 1000, 1), wallMs: round(burstMs, 0) },
        paced: { live: paced, notLive: pacedLost, perS: P.pacedPerS },
        burstApplyCycle: cycle,
        interfaceCheck: { enrolledKeys: keys.length, missingOnInterface: missing, peersOnInterface: onIf.size },
        uapi: { setRequests: td.tap.setRequests, getRequests: td.tap.getRequests, failedSets: td.tap.failedSets },
        agentRssMB: agentRss,
        headline: [
          `Real agent (\`damm gateway run\`, UAPI) on wireguard-go in a namespace, ${P.preseed.toLocaleString('en')} peers already served. Latency from the enrollment's HTTP response to wireguard-go acknowledging the peer.`,
          '',
          '| mode | enrollments | p50 | p95 | p99 | max | not live |',
          '|---|---|---|---|---|---|---|',
          `| idle (one at a time) | ${idle.n} | ${idle.p50} ms | ${idle.p95} ms | ${idle.p99} ms | ${idle.max} ms | ${idleLost} |`,
          `| burst (${P.concurrency} clients back to back, ${round((load.count / load.wallMs) * 1000, 0)}/s: the machine saturated) | ${burst.n} | ${burst.p50} ms | ${burst.p95} ms | ${burst.p99} ms | ${burst.max} ms | ${burstLost} |`,
          `| paced (open loop, ${P.pacedPerS}/s) | ${paced.n} | ${paced.p50} ms | ${paced.p95} ms | ${paced.p99} ms | ${paced.max} ms | ${pacedLost} |`,
          '',
          `During the burst the agent applied ${cycle.sets} batches: one every ${cycle.intervalMs.p50} ms (p50; p90 ${cycle.intervalMs.p90} ms), ${cycle.peersPerSet.p50} peers each (p50; max ${cycle.peersPerSet.max}).`,
          '',
          `All ${keys.length.toLocaleString('en')} enrolled keys checked against a get=1 of the interface: ${missing} missing. ${td.tap.setRequests} set requests reached the daemon.`,
        ],
      };
      const met = (d: typeof idle) => (ctx.smoke || d.n === 0 ? null : d.p50 <= 10 && d.p99 <= 50);
      return {
        status: 'ok',
        parameters: { ...P, agent: 'node dist/cli/main.js gateway run --backend uapi (via a UAPI tap)', controlPlane: 'node dist/cli/main.js serve' },
        samples: { idleLiveMs: idleLive.map((x) => round(x, 3)), burstLiveMs: burstLatencies.map((x) => round(x, 3)), pacedLiveMs: pacedLatencies.map((x) => round(x, 3)), idleHttpMs: idleHttp.map((x) => round(x, 3)) },
        summary,
        targets: {
          idle: { target: 'enroll → peer live, idle: p50 ≤ 10 ms and p99 ≤ 50 ms', measured: `p50 ${idle.p50} ms, p99 ${idle.p99} ms over ${idle.n} enrollments (${idleLost} not live)`, met: met(idle) === null ? null : met(idle)! && idleLost === 0 },
          burst: { target: `enroll → peer live under a ${P.concurrency}-client burst: p50 ≤ 10 ms and p99 ≤ 50 ms`, measured: `p50 ${burst.p50} ms, p99 ${burst.p99} ms over ${burst.n} enrollments (${burstLost} not live); at a paced ${P.pacedPerS}/s: p50 ${paced.p50} ms, p99 ${paced.p99} ms`, met: met(burst) === null ? null : met(burst)! && burstLost === 0 },
        },
        notes,
      };
    } finally {
      await agent?.stop().catch(() => {});
      await kit.cleanup().catch((e: Error) => notes.push(`cleanup: ${e.message}`));
      await cp.stop();
      await database.drop();
    }
  },
};
