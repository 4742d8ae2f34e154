/**
 * enroll-throughput: enrollments through the real HTTP API (`damm serve` on
 * loopback, real Postgres), sequential and with 16 concurrent clients, at
 * 1k, 10k and 100k devices already enrolled. Large states are seeded in bulk
 * through the store; passes are pre-issued so minting is not measured.
 * Cost per enrollment should not grow with the number of devices.
 */
import type { Benchmark, BenchOutput, RunContext } from './lib/result.js';
import { createBenchDatabase } from './lib/pg.js';
import { buildNotes, keepGatewayOnline, registerGateway, startControlPlane } from './lib/cp.js';
import { analyze, feedSeederFor, hasFeed, issuePasses, seedUpTo } from './lib/seed.js';
import { measurePhase, phaseSummary, type PhaseResult } from './lib/phases.js';
import { enrollLoad } from './lib/load.js';
import { ratio, round } from './lib/stats.js';

export const FULL = { sizes: [1_000, 10_000, 100_000], warmup: 400, sequential: 1_000, concurrent: 6_000, concurrency: 16, blockSize: 500 };
export const SMOKE = { sizes: [20, 300], warmup: 10, sequential: 20, concurrent: 80, concurrency: 16, blockSize: 20 };

export const bench: Benchmark = {
  name: 'enroll-throughput',
  title: 'Enrollment throughput through the HTTP API at 1k / 10k / 100k devices',
  async run(ctx: RunContext): Promise<BenchOutput> {
    const P = ctx.smoke ? SMOKE : FULL;
    const notes = buildNotes((m) => ctx.progress.note(m));
    const database = await createBenchDatabase();
    const cp = await startControlPlane({ databaseUrl: database.url });
    let stopBeat = () => {};
    try {
      const gw = await registerGateway(cp);
      stopBeat = await keepGatewayOnline(database.db, cp, gw);
      const withFeed = await hasFeed(database.db);
      const feed = withFeed ? await feedSeederFor(cp.dataDir) : undefined;
      notes.push(withFeed
        ? 'the store has the gateway feed: every enrollment also signs an admission record and writes feed + admissions rows; seeded devices have theirs too'
        : 'no gateway feed in this build: enrollments write no feed rows');
      const perSize: Array<{ size: number; seeded: number; seedMs: number; sequential: PhaseResult; concurrent: PhaseResult }> = [];
      for (const size of P.sizes) {
        const t0 = performance.now();
        const seeded = await seedUpTo(database.db, size, {
          gatewayId: gw.gatewayId,
          ...(feed ? { feed } : {}),
          onProgress: (d, n) => ctx.progress.update(`size ${size}: seeding ${d}/${n} devices`),
        });
        const passes = await issuePasses(database.db, P.warmup + P.sequential + P.concurrent);
        await analyze(database.db);
        await database.db.query('CHECKPOINT');
        const seedMs = round(performance.now() - t0, 0);
        ctx.progress.note(`size ${size}: ${seeded} devices seeded, ${passes.length} passes issued in ${(seedMs / 1000).toFixed(1)} s`);
        // Warm-up (JIT, connection pool, caches) at the same concurrency; not recorded.
        const warm = await enrollLoad({ url: cp.url, passes: passes.slice(0, P.warmup), concurrency: P.concurrency });
        if ((warm.statuses['201'] ?? 0) !== P.warmup) throw new Error(`warm-up enrollments failed: ${JSON.stringify(warm.statuses)} ${warm.failures.join(' / ')}`);
        const sequential = await measurePhase({
          url: cp.url, db: database.db, dbName: database.name, cpPids: [cp.pid], concurrency: 1, blockSize: P.blockSize,
          passes: passes.slice(P.warmup, P.warmup + P.sequential),
          onProgress: (d, n) => ctx.progress.update(`size ${size}: sequential ${d}/${n}`),
        });
        const concurrent = await measurePhase({
          url: cp.url, db: database.db, dbName: database.name, cpPids: [cp.pid], concurrency: P.concurrency, blockSize: P.blockSize,
          passes: passes.slice(P.warmup + P.sequential),
          onProgress: (d, n) => ctx.progress.update(`size ${size}: ${P.concurrency} clients ${d}/${n}`),
        });
        for (const ph of [sequential, concurrent]) {
          if ((ph.statuses['201'] ?? 0) !== ph.count) notes.push(`size ${size} ${ph.mode}: not every enrollment succeeded: ${JSON.stringify(ph.statuses)} ${ph.failures.join(' / ')}`);
        }
        ctx.progress.note(
          `size ${size}: sequential ${sequential.throughputPerS}/s (p50 ${sequential.latency.p50} ms); ` +
            `${P.concurrency} clients ${concurrent.throughputPerS}/s (median block ${concurrent.medianBlockThroughputPerS}/s, p99 ${concurrent.latency.p99} ms); ` +
            `CPU/enroll cp ${concurrent.cpuMsPerEnroll.controlPlane} ms, pg ${concurrent.cpuMsPerEnroll.postgres} ms`,
        );
        perSize.push({ size, seeded, seedMs, sequential, concurrent });
      }
      const first = perSize[0]!;
      const last = perSize[perSize.length - 1]!;
      const growthConc = ratio(1 / last.concurrent.medianBlockThroughputPerS, 1 / first.concurrent.medianBlockThroughputPerS);
      const growthSeq = ratio(last.sequential.latency.mean, first.sequential.latency.mean);
      const growthCpu = ratio(
        last.concurrent.cpuMsPerEnroll.controlPlane + last.concurrent.cpuMsPerEnroll.postgres,
        first.concurrent.cpuMsPerEnroll.controlPlane + first.concurrent.cpuMsPerEnroll.postgres,
      );
      const top = last.concurrent.medianBlockThroughputPerS;
      return {
        status: 'ok',
        parameters: { ...P, api: 'POST /v1/enroll over HTTP/1.1 keep-alive (node:http), one process', controlPlane: 'node dist/cli/main.js serve (feed, admissions and wizard as always, log level info to /dev/null)', ipv4Pool: '10.64.0.0/10' },
        samples: Object.fromEntries(
          perSize.flatMap((s) => [
            [`size${s.size}.sequential.latenciesMs`, s.sequential.latenciesMs],
            [`size${s.size}.concurrent.latenciesMs`, s.concurrent.latenciesMs],
            [`size${s.size}.concurrent.blockThroughputPerS`, s.concurrent.blockThroughputPerS],
          ]),
        ),
        summary: {
          sizes: perSize.map((s) => ({ size: s.size, seeded: s.seeded, seedMs: s.seedMs, sequential: phaseSummary(s.sequential), concurrent: phaseSummary(s.concurrent) })),
          costGrowth: { concurrentWall: growthConc, sequentialMeanLatency: growthSeq, concurrentCpu: growthCpu, from: first.size, to: last.size },
        },
        targets: {
          throughputAtLargest: {
            target: `≥ 1,000 enrollments/s with ${P.concurrency} clients at ${last.size.toLocaleString('en')} devices`,
            measured: `${top}/s (median of ${P.blockSize}-enrollment blocks; ${last.concurrent.throughputPerS}/s over the whole phase)`,
            met: ctx.smoke ? null : top >= 1000,
          },
          costGrowth: {
            target: `cost per enrollment grows ≤ 1.2× from ${first.size.toLocaleString('en')} to ${last.size.toLocaleString('en')} devices`,
            measured: `${growthConc}× wall (${P.concurrency} clients), ${growthSeq}× sequential latency, ${growthCpu}× CPU (control plane + Postgres)`,
            met: ctx.smoke || growthConc === null ? null : growthConc <= 1.2,
          },
        },
        notes,
      };
    } finally {
      stopBeat();
      await cp.stop();
      await database.drop();
    }
  },
};
