/**
 * enroll-to-peer-live: from the enrollment's HTTP response to the peer being
 * live on a real wireguard-go interface driven by the real agent
 * (`damm gateway run`, UAPI backend), over ≥ 1,000 enrollments one at a time
 * (idle) and under a concurrent burst (16 clients). "Live" is the instant
 * wireguard-go answered errno=0 to the set request carrying the peer, seen
 * by a tap on the UAPI socket (bench/lib/uapi-tap.ts). The gateway already
 * serves a seeded population when measurement starts.
 *
 * Lanes (issue 11, issue 15 point 6): the same phases run once per gateway
 * shape, each on its own fresh database, control plane, agent and daemons,
 * in one run: one lane (plain WireGuard), two lanes (plus AmneziaWG on
 * amneziawg-go, its own tap), and four catalog doors (two lanes, lane 0 also
 * on two alternate ports). With two lanes a peer is live when BOTH daemons
 * acknowledged it. Per enrollment, CPU of the control plane and Postgres
 * (the control-plane cost), the agent and the daemons is taken over the burst.
 */
import http from 'node:http';
import type { Benchmark, BenchOutput, RunContext } from './lib/result.js';
import { createBenchDatabase } from './lib/pg.js';
import { buildNotes, startControlPlane } from './lib/cp.js';
import { feedSeederFor, hasFeed, issuePasses, randomPublicKeys, seedUpTo, analyze } from './lib/seed.js';
import { enrollLoad, postEnroll } from './lib/load.js';
import { gatewayPrereqProblem, giveUpAfter, lanePrereqProblem, unavailableOutput, gatewayToken, newKit, startAgent, tappedGateway } from './lib/gateway.js';
import { interfacePeers } from './lib/uapi-tap.js';
import { distribution, ratio, round, type Distribution } from './lib/stats.js';
import { backendPids } from './lib/pg.js';
import { trackCpu } from './lib/cpu.js';

/** paced: open-loop arrivals at a fixed rate well below saturation, to separate pipeline latency from CPU queueing. */
export const FULL = { rounds: 2, preseed: 10_000, warmup: 50, idle: 1_000, burst: 3_000, concurrency: 16, paced: 1_000, pacedPerS: 250, liveTimeoutMs: 30_000 };
export const SMOKE = { rounds: 1, preseed: 50, warmup: 3, idle: 10, burst: 32, concurrency: 16, paced: 10, pacedPerS: 100, liveTimeoutMs: 15_000 };

/** The gateway shapes measured in one run; the first is the one-door baseline every ratio is taken against. */
export const SHAPES = [
  { id: 'one-lane', label: '1 lane: WireGuard (1 door)', awg: false, altPorts: [] as number[] },
  { id: 'two-lanes', label: '2 lanes: WireGuard + AmneziaWG (2 doors)', awg: true, altPorts: [] as number[] },
  // High ports nobody else uses: the agent's nftables table lives in the machine's own namespace (the agent does not run inside the daemons' one).
  { id: 'four-doors', label: '2 lanes, lane 0 also on 2 alternate ports (4 doors)', awg: true, altPorts: [41443, 41053] },
] as const;
type Shape = (typeof SHAPES)[number];
type Params = typeof FULL;


/** What one gateway shape measured. */
interface ShapeRun {
  shape: Shape;
  idle: Distribution;
  idleHttp: Distribution;
  idleLost: number;
  burst: Distribution;
  burstHttp: Distribution;
  burstLost: number;
  burstEnrollments: number;
  burstEnrollPerS: number;
  burstWallMs: number;
  paced: Distribution;
  pacedLost: number;
  /** CPU ms per enrollment over the burst, by process group. */
  burstCpuMsPerEnroll: { controlPlane: number; postgres: number; agent: number; daemons: number; controlPlaneAndPostgres: number };
  burstMachine: { machineBusyPct: number; neighbourCores: number };
  cycle: { sets: number; intervalMs: Distribution; peersPerSet: Distribution };
  /** Per lane: keys missing on the interface (get=1), set requests. */
  interfaceCheck: Array<{ lane: number; enrolledKeys: number; missingOnInterface: number; peersOnInterface: number; setRequests: number; failedSets: number }>;
  /** Doors the enrollment answer named (the placed gateway's catalog doors). */
  catalogDoors: number | null;
  agentRssMB: { peakMB: number; lastMB: number };
  loadavgAtStart: number[];
  samples: { idleLiveMs: number[]; burstLiveMs: number[]; pacedLiveMs: number[]; idleHttpMs: number[]; burstHttpMs: number[] };
  /** Each round's own figures when several were merged. */
  rounds?: Array<{ round: number; idleP50: number; idleP99: number; burstP50: number; burstP99: number; burstEnrollPerS: number; controlPlaneAndPostgresMsPerEnroll: number; neighbourCores: number; loadavgAtStart: number[] }>;
  notes: string[];
}

/** Doors the enrollment answer names (every door of the placed gateway), or null when it names none. */
function answerDoors(text: string): number | null {
  try {
    const doors = (JSON.parse(text) as { doors?: unknown }).doors;
    return Array.isArray(doors) ? doors.length : null;
  } catch {
    return null;
  }
}

async function runShape(ctx: RunContext, P: Params, shape: Shape): Promise<ShapeRun> {
  const notes: string[] = [];
  const loadavgAtStart = (await import('node:os')).loadavg().map((x) => round(x, 2));
  const database = await createBenchDatabase();
  const cp = await startControlPlane({ databaseUrl: database.url });
  const kit = await newKit();
  let agent: Awaited<ReturnType<typeof startAgent>> | null = null;
  const say = (m: string) => ctx.progress.update(`${shape.id}: ${m}`);
  try {
    if (!(await hasFeed(database.db))) throw new Error('this build has no gateway feed (feed_events): nothing for an agent to follow');
    const gw = await tappedGateway(kit, { awg: shape.awg, altPorts: [...shape.altPorts] });
    const lane0 = gw.lanes[0]!;
    const { gatewayId, token } = await gatewayToken(cp);
    await seedUpTo(database.db, P.preseed, { gatewayId, feed: await feedSeederFor(cp.dataDir), onProgress: (d, n) => say(`seeding ${d}/${n} devices`) });
    await analyze(database.db);
    const passes = await issuePasses(database.db, P.warmup + P.idle + P.burst + P.paced);
    const agentStart = performance.now();
    agent = await startAgent({ controlPlane: cp.url, token, ifname: lane0.daemon.ifname, tapDir: lane0.tapDir, lanes: gw.setup });
    await agent.waitForLog('gateway agent running', 120_000);
    const deadline = Date.now() + (ctx.smoke ? 30_000 : 120_000);
    while (gw.liveCount() < P.preseed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    ctx.progress.note(`${shape.id}: agent up with ${gw.liveCount()} seeded peers live on all ${gw.lanes.length} lane(s) (per lane ${gw.lanes.map((l) => l.tap.liveAt.size).join(' / ')}) in ${((performance.now() - agentStart) / 1000).toFixed(1)} s`);
    if (gw.liveCount() < P.preseed) throw new Error(`${shape.id}: the seeded peers never went live on every lane (per lane ${gw.lanes.map((l) => l.tap.liveAt.size).join(' / ')} of ${P.preseed}); requests per lane ${JSON.stringify(gw.lanes.map((l) => l.tap.requests.slice(0, 8)))}; agent warnings: ${JSON.stringify(agent.logs.filter((l) => Number(l["level"]) >= 40).slice(-5))}`);

    const url = new URL('/v1/enroll', cp.url);
    const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const keys = randomPublicKeys(P.warmup + P.idle + P.burst + P.paced);
    // Idle: one enrollment at a time; the next starts once the previous peer is live on every lane.
    const idleLive: number[] = [];
    const idleHttp: number[] = [];
    let idleLost = 0;
    let catalogDoors: number | null = null;
    for (let i = 0; i < P.warmup + P.idle; i++) {
      const a = await postEnroll(httpAgent, url, passes[i]!, keys[i]!);
      if (a.status !== 201) throw new Error(`enrollment failed: ${a.status} ${a.error ?? a.text.slice(0, 300)}`);
      catalogDoors = answerDoors(a.text);
      const live = await Promise.race([gw.whenLive(keys[i]!), giveUpAfter(P.liveTimeoutMs)]);
      if (i < P.warmup) continue;
      if (live === null) idleLost++;
      else idleLive.push(live - a.t1);
      idleHttp.push(a.t1 - a.t0);
      say(`idle ${i + 1 - P.warmup}/${P.idle}: last ${live === null ? 'not live' : `${(live - a.t1).toFixed(2)} ms`}`);
    }
    httpAgent.destroy();
    // Burst: 16 clients enroll back to back; each peer's latency runs from its own response.
    const burstLive: Array<Promise<number | null>> = [];
    const burstResp: number[] = [];
    const first = P.warmup + P.idle;
    const daemonPids = gw.lanes.map((l) => l.daemon.pid);
    const tracker = await trackCpu({ cp: () => [cp.pid], pg: () => backendPids(database.db, database.name), agent: () => [agent!.pid], daemons: () => daemonPids });
    const burstStart = performance.now();
    const load = await enrollLoad({
      url: cp.url,
      passes: passes.slice(first, first + P.burst),
      publicKeys: keys.slice(first, first + P.burst),
      concurrency: P.concurrency,
      onResponse: (_i, a, key) => {
        if (a.status !== 201) return;
        burstResp.push(a.t1 - a.t0);
        burstLive.push(Promise.race([gw.whenLive(key).then((t) => t - a.t1), giveUpAfter(P.liveTimeoutMs)]));
      },
      onProgress: (d, n) => say(`burst ${d}/${n} enrolled`),
    });
    const burstResults = await Promise.all(burstLive);
    const burstMs = performance.now() - burstStart;
    const cpu = await tracker.stop();
    const ok = load.statuses['201'] ?? 0;
    const per = (ms: number | undefined) => round((ms ?? NaN) / Math.max(1, ok), 3);
    const burstCpuMsPerEnroll = { controlPlane: per(cpu['cp']), postgres: per(cpu['pg']), agent: per(cpu['agent']), daemons: per(cpu['daemons']), controlPlaneAndPostgres: per((cpu['cp'] ?? NaN) + (cpu['pg'] ?? NaN)) };
    // The agent's apply cycle during the burst, on lane 0: how often a set reached the daemon and how many peers each carried.
    const burstSets = lane0.tap.requests.filter((q) => q.kind === 'set' && q.upserts > 0 && q.t >= burstStart && q.t <= burstStart + burstMs);
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
        if (a.status === 201) pacedLive.push(Promise.race([gw.whenLive(keys[i]!).then((t) => t - a.t1), giveUpAfter(P.liveTimeoutMs)]));
      }));
      say(`paced ${j + 1}/${P.paced} at ${P.pacedPerS}/s`);
    }
    await Promise.all(pacedSent);
    pacedAgent.destroy();
    const pacedResults = await Promise.all(pacedLive);
    const pacedLatencies = pacedResults.filter((x): x is number => x !== null);
    const pacedLost = P.paced - pacedLatencies.length;
    if (ok !== load.count) notes.push(`${shape.id} burst: ${JSON.stringify(load.statuses)} ${load.failures.join(' / ')}`);
    // Cross-check against every interface itself.
    const interfaceCheck = [];
    for (const [lane, l] of gw.lanes.entries()) {
      const onIf = await interfacePeers(l.daemon.socketPath);
      interfaceCheck.push({ lane, enrolledKeys: keys.length, missingOnInterface: keys.filter((k) => !onIf.has(k)).length, peersOnInterface: onIf.size, setRequests: l.tap.setRequests, failedSets: l.tap.failedSets });
    }
    const negative = [...idleLive, ...burstLatencies].filter((x) => x < 0).length;
    if (negative) notes.push(`${shape.id}: ${negative} peer(s) went live before their enrollment response reached the client (negative latency kept as measured)`);
    const r: ShapeRun = {
      shape,
      idle: distribution(idleLive),
      idleHttp: distribution(idleHttp),
      idleLost,
      burst: distribution(burstLatencies),
      burstHttp: distribution(burstResp),
      burstLost,
      burstEnrollments: load.count,
      burstEnrollPerS: round((load.count / load.wallMs) * 1000, 1),
      burstWallMs: round(burstMs, 0),
      paced: distribution(pacedLatencies),
      pacedLost,
      burstCpuMsPerEnroll,
      burstMachine: { machineBusyPct: cpu.machineBusyPct, neighbourCores: cpu.neighbourCores },
      cycle,
      interfaceCheck,
      catalogDoors,
      agentRssMB: agent.rss(),
      loadavgAtStart,
      samples: { idleLiveMs: idleLive.map((x) => round(x, 3)), burstLiveMs: burstLatencies.map((x) => round(x, 3)), pacedLiveMs: pacedLatencies.map((x) => round(x, 3)), idleHttpMs: idleHttp.map((x) => round(x, 3)), burstHttpMs: burstResp.map((x) => round(x, 3)) },
      notes,
    };
    ctx.progress.note(`${shape.id}: idle p50 ${r.idle.p50} p99 ${r.idle.p99} ms; burst p50 ${r.burst.p50} p99 ${r.burst.p99} ms (${r.burstEnrollPerS}/s); paced p50 ${r.paced.p50} p99 ${r.paced.p99} ms; cp+pg CPU ${burstCpuMsPerEnroll.controlPlaneAndPostgres} ms/enrollment; missing ${interfaceCheck.map((c) => c.missingOnInterface).join('/')}`);
    return r;
  } finally {
    await agent?.stop().catch(() => {});
    await kit.cleanup().catch((e: Error) => notes.push(`cleanup: ${e.message}`));
    await cp.stop();
    await database.drop();
  }
}

/**
 * One shape's rounds as one: latency distributions over every round's samples, per-enrollment CPU and throughput
 * as the mean of the rounds (each round's own figures kept in `rounds`).
 */
function mergeRounds(rs: ShapeRun[]): ShapeRun {
  if (rs.length === 1) return rs[0]!;
  const cat = (f: (r: ShapeRun) => number[]) => rs.flatMap(f);
  const mean = (f: (r: ShapeRun) => number) => round(rs.reduce((a, r) => a + f(r), 0) / rs.length, 3);
  const samples = { idleLiveMs: cat((r) => r.samples.idleLiveMs), burstLiveMs: cat((r) => r.samples.burstLiveMs), pacedLiveMs: cat((r) => r.samples.pacedLiveMs), idleHttpMs: cat((r) => r.samples.idleHttpMs), burstHttpMs: cat((r) => r.samples.burstHttpMs) };
  const first = rs[0]!;
  return {
    shape: first.shape,
    idle: distribution(samples.idleLiveMs),
    idleHttp: distribution(samples.idleHttpMs),
    idleLost: mean((r) => r.idleLost) * rs.length,
    burst: distribution(samples.burstLiveMs),
    burstHttp: distribution(samples.burstHttpMs),
    burstLost: mean((r) => r.burstLost) * rs.length,
    burstEnrollments: mean((r) => r.burstEnrollments) * rs.length,
    burstEnrollPerS: mean((r) => r.burstEnrollPerS),
    burstWallMs: mean((r) => r.burstWallMs),
    paced: distribution(samples.pacedLiveMs),
    pacedLost: mean((r) => r.pacedLost) * rs.length,
    burstCpuMsPerEnroll: {
      controlPlane: mean((r) => r.burstCpuMsPerEnroll.controlPlane),
      postgres: mean((r) => r.burstCpuMsPerEnroll.postgres),
      agent: mean((r) => r.burstCpuMsPerEnroll.agent),
      daemons: mean((r) => r.burstCpuMsPerEnroll.daemons),
      controlPlaneAndPostgres: mean((r) => r.burstCpuMsPerEnroll.controlPlaneAndPostgres),
    },
    burstMachine: { machineBusyPct: mean((r) => r.burstMachine.machineBusyPct), neighbourCores: mean((r) => r.burstMachine.neighbourCores) },
    cycle: first.cycle,
    interfaceCheck: rs.flatMap((r) => r.interfaceCheck),
    catalogDoors: first.catalogDoors,
    agentRssMB: { peakMB: Math.max(...rs.map((r) => r.agentRssMB.peakMB)), lastMB: rs[rs.length - 1]!.agentRssMB.lastMB },
    loadavgAtStart: first.loadavgAtStart,
    samples,
    rounds: rs.map((r, i) => ({ round: i + 1, idleP50: r.idle.p50, idleP99: r.idle.p99, burstP50: r.burst.p50, burstP99: r.burst.p99, burstEnrollPerS: r.burstEnrollPerS, controlPlaneAndPostgresMsPerEnroll: r.burstCpuMsPerEnroll.controlPlaneAndPostgres, neighbourCores: r.burstMachine.neighbourCores, loadavgAtStart: r.loadavgAtStart })),
    notes: rs.flatMap((r) => r.notes),
  };
}

export const bench: Benchmark = {
  name: 'enroll-to-peer-live',
  title: 'Enrollment response → peer live on real wireguard-go (and amneziawg-go) interfaces, driven by the agent: one lane vs two lanes vs four doors',
  async run(ctx: RunContext): Promise<BenchOutput> {
    const P = ctx.smoke ? SMOKE : FULL;
    const problem = gatewayPrereqProblem();
    if (problem) return unavailableOutput({ ...P, shapes: SHAPES.map((s) => s.id) }, problem);
    const notes = buildNotes((m) => ctx.progress.note(m));
    const skipped: Array<{ shape: Shape; why: string }> = [];
    // DAMM_BENCH_LANE_SHAPES=one-lane,two-lanes runs only those shapes (the one-lane shape, when run, is the baseline of the ratios).
    const only = (process.env['DAMM_BENCH_LANE_SHAPES'] ?? '').split(',').filter(Boolean);
    const runnable: Shape[] = [];
    for (const shape of only.length ? SHAPES.filter((s) => only.includes(s.id)) : SHAPES) {
      const why = lanePrereqProblem(shape);
      if (why) {
        skipped.push({ shape, why });
        notes.push(`${shape.label}: unavailable: ${why}`);
      } else runnable.push(shape);
    }
    // Rounds in alternating order (A B C, then C B A): the machine's other load drifts, and no shape always runs first.
    const perShape = new Map<Shape['id'], ShapeRun[]>();
    for (let pass = 0; pass < P.rounds; pass++) {
      for (const shape of pass % 2 === 0 ? runnable : [...runnable].reverse()) {
        ctx.progress.note(`round ${pass + 1}/${P.rounds}: ${shape.label}`);
        perShape.set(shape.id, [...(perShape.get(shape.id) ?? []), await runShape(ctx, P, shape)]);
      }
    }
    const runs = runnable.map((s) => mergeRounds(perShape.get(s.id)!));
    for (const r of runs) notes.push(...r.notes);
    const base = runs[0]!;
    const byId = (id: Shape['id']) => runs.find((r) => r.shape.id === id) ?? null;
    const two = byId('two-lanes');
    const four = byId('four-doors');
    const vs = (r: ShapeRun) => ({
      idleP50: ratio(r.idle.p50, base.idle.p50),
      idleP99: ratio(r.idle.p99, base.idle.p99),
      burstP50: ratio(r.burst.p50, base.burst.p50),
      burstP99: ratio(r.burst.p99, base.burst.p99),
      idleHttpMean: ratio(r.idleHttp.mean, base.idleHttp.mean),
      controlPlaneAndPostgresCpu: ratio(r.burstCpuMsPerEnroll.controlPlaneAndPostgres, base.burstCpuMsPerEnroll.controlPlaneAndPostgres),
      controlPlaneCpu: ratio(r.burstCpuMsPerEnroll.controlPlane, base.burstCpuMsPerEnroll.controlPlane),
      agentCpu: ratio(r.burstCpuMsPerEnroll.agent, base.burstCpuMsPerEnroll.agent),
      burstThroughput: ratio(r.burstEnrollPerS, base.burstEnrollPerS),
    });
    const shapes = runs.map((r) => ({ ...r, samples: undefined, vsOneLane: vs(r) }));
    const ms = (x: number) => `${x} ms`;
    const missing = (r: ShapeRun) => r.interfaceCheck.map((c) => c.missingOnInterface).join(' / ');
    const headline = [
      `Real agent (\`damm gateway run\`, UAPI) on wireguard-go (lane 0) and, with two lanes, amneziawg-go (lane 1) in one namespace, ${P.preseed.toLocaleString('en')} peers already served. Latency from the enrollment's HTTP response to the daemons acknowledging the peer: with two lanes, the later of the two acknowledgements. Each gateway shape on its own fresh database, control plane, agent and daemons, one after the other in this run (machine load average at the first round's start in the table).`,
      '',
      '| gateway | doors in the enrollment answer | idle p50 / p99 | burst p50 / p99 (enroll/s) | paced p50 / p99 | not live (idle/burst/paced) | CPU ms/enrollment in the burst: control plane + Postgres (agent, daemons) | load avg at start |',
      '|---|---|---|---|---|---|---|---|',
      ...runs.map((r) => `| ${r.shape.label} | ${r.catalogDoors ?? '?'} | ${ms(r.idle.p50)} / ${ms(r.idle.p99)} | ${ms(r.burst.p50)} / ${ms(r.burst.p99)} (${round(r.burstEnrollPerS, 0)}/s) | ${ms(r.paced.p50)} / ${ms(r.paced.p99)} | ${r.idleLost} / ${r.burstLost} / ${r.pacedLost} | ${r.burstCpuMsPerEnroll.controlPlane} + ${r.burstCpuMsPerEnroll.postgres} = ${r.burstCpuMsPerEnroll.controlPlaneAndPostgres} (${r.burstCpuMsPerEnroll.agent}, ${r.burstCpuMsPerEnroll.daemons}) | ${r.loadavgAtStart.join(' / ')} |`),
      ...skipped.map((s) => `| ${s.shape.label} | unavailable: ${s.why} | | | | | | |`),
      '',
      ...runs.slice(1).map((r) => {
        const v = vs(r);
        return `${r.shape.label} ÷ 1 lane: idle p50 ${v.idleP50}×, p99 ${v.idleP99}×; burst p50 ${v.burstP50}×, p99 ${v.burstP99}×; control-plane + Postgres CPU per enrollment ${v.controlPlaneAndPostgresCpu}× (control plane alone ${v.controlPlaneCpu}×), idle HTTP time ${v.idleHttpMean}×; agent CPU per enrollment ${v.agentCpu}×.`;
      }),
      '',
      ...(P.rounds > 1
        ? [
          `${P.rounds} rounds, shapes in alternating order (${runnable.map((x) => x.id).join(', ')}, then reversed); latencies pooled over the rounds, CPU and enroll/s the mean of the rounds. Per round (burst p50 / p99 ms; control plane + Postgres CPU ms/enrollment; neighbours' cores during the burst; load average at start):`,
          '',
          ...runs.map((r) => `- ${r.shape.label}: ${(r.rounds ?? []).map((q) => `round ${q.round}: ${q.burstP50} / ${q.burstP99} ms; ${q.controlPlaneAndPostgresMsPerEnroll} ms; ${q.neighbourCores} cores; ${q.loadavgAtStart.join(' / ')}`).join(' — ')}`),
          '',
        ]
        : []),
      `During the 1-lane burst the agent applied ${base.cycle.sets} batches to lane 0: one every ${base.cycle.intervalMs.p50} ms (p50), ${base.cycle.peersPerSet.p50} peers each (p50)${two ? `; with 2 lanes ${two.cycle.sets} batches, one every ${two.cycle.intervalMs.p50} ms, ${two.cycle.peersPerSet.p50} peers each` : ''}.`,
      `Every enrolled key checked against a get=1 of each interface afterwards; missing per lane: ${runs.map((r) => `${r.shape.id} ${missing(r)}`).join('; ')}.`,
    ];
    const liveMet = (d: Distribution, lost: number) => (ctx.smoke || d.n === 0 ? null : d.p50 <= 10 && d.p99 <= 50 && lost === 0);
    const targets: BenchOutput['targets'] = {
      idle: { target: 'enroll → peer live, idle: p50 ≤ 10 ms and p99 ≤ 50 ms', measured: `p50 ${base.idle.p50} ms, p99 ${base.idle.p99} ms over ${base.idle.n} enrollments (${base.idleLost} not live)`, met: liveMet(base.idle, base.idleLost) },
      burst: { target: `enroll → peer live under a ${P.concurrency}-client burst: p50 ≤ 10 ms and p99 ≤ 50 ms`, measured: `p50 ${base.burst.p50} ms, p99 ${base.burst.p99} ms over ${base.burst.n} enrollments (${base.burstLost} not live); at a paced ${P.pacedPerS}/s: p50 ${base.paced.p50} ms, p99 ${base.paced.p99} ms`, met: liveMet(base.burst, base.burstLost) },
    };
    const twoWhy = skipped.find((s) => s.shape.id === 'two-lanes')?.why;
    targets['twoLanesIdle'] = two
      ? { target: 'two lanes: enroll → live on both interfaces, idle: p50 ≤ 10 ms and p99 ≤ 50 ms', measured: `p50 ${two.idle.p50} ms, p99 ${two.idle.p99} ms (${vs(two).idleP50}× / ${vs(two).idleP99}× one lane in the same run; ${two.idleLost} not live)`, met: liveMet(two.idle, two.idleLost) }
      : { target: 'two lanes: enroll → live on both interfaces, idle', measured: `unavailable: ${twoWhy}`, met: null };
    targets['twoLanesBurst'] = two
      ? { target: `two lanes: enroll → live on both interfaces under a ${P.concurrency}-client burst: p50 ≤ 10 ms and p99 ≤ 50 ms`, measured: `p50 ${two.burst.p50} ms, p99 ${two.burst.p99} ms (${vs(two).burstP50}× / ${vs(two).burstP99}× one lane in the same run; ${two.burstLost} not live)`, met: liveMet(two.burst, two.burstLost) }
      : { target: 'two lanes: enroll → live on both interfaces under a burst', measured: `unavailable: ${twoWhy}`, met: null };
    targets['enrollCostFourDoors'] = four
      ? { target: 'an enrollment with four doors per gateway costs ≤ 1.2× a one-door enrollment (control-plane + Postgres CPU per enrollment, 16-client burst)', measured: `${four.burstCpuMsPerEnroll.controlPlaneAndPostgres} vs ${base.burstCpuMsPerEnroll.controlPlaneAndPostgres} ms = ${vs(four).controlPlaneAndPostgresCpu}× (4 doors = 2 lanes + 2 alternate ports on lane 0; 2 lanes: ${two ? `${vs(two).controlPlaneAndPostgresCpu}×` : 'n/a'})`, met: ctx.smoke || vs(four).controlPlaneAndPostgresCpu === null ? null : vs(four).controlPlaneAndPostgresCpu! <= 1.2 }
      : { target: 'an enrollment with four doors per gateway costs ≤ 1.2× a one-door enrollment', measured: `unavailable: ${skipped.find((s) => s.shape.id === 'four-doors')?.why}`, met: null };
    return {
      status: 'ok',
      parameters: { ...P, shapes: SHAPES.map((s) => ({ id: s.id, awg: s.awg, altPorts: [...s.altPorts] })), agent: 'node dist/cli/main.js gateway run --backend uapi (via a UAPI tap per lane; --awg-* for lane 1, --alt-port for lane 0)', controlPlane: 'node dist/cli/main.js serve' },
      samples: Object.fromEntries(runs.map((r) => [r.shape.id, r.samples])),
      summary: {
        preseededPeers: P.preseed,
        // The one-lane figures where they always were (older readers), then every shape.
        idle: { live: base.idle, http: base.idleHttp, notLive: base.idleLost },
        burst: { live: base.burst, http: base.burstHttp, notLive: base.burstLost, enrollments: base.burstEnrollments, enrollPerS: base.burstEnrollPerS, wallMs: base.burstWallMs },
        paced: { live: base.paced, notLive: base.pacedLost, perS: P.pacedPerS },
        burstApplyCycle: base.cycle,
        shapes,
        unavailableShapes: skipped.map((s) => ({ id: s.shape.id, why: s.why })),
        headline,
      },
      targets,
      notes,
    };
  },
};
