/**
 * baseline: the memo's Phase-0 state strategy (bench/baselines/) driven by
 * the same HTTP enrollment workload as enroll-throughput, at the same sizes.
 * Each write rewrites the whole state, so a bounded number of enrollments is
 * measured per size (time-boxed) and the per-enrollment cost is reported,
 * with DAMM/baseline ratios against enroll-throughput from the same run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Benchmark, BenchOutput, BenchResult, RunContext } from './lib/result.js';
import { REPO_ROOT } from './lib/env.js';
import { BENCH_IPV4_POOL, BENCH_IPV6_PREFIX } from './lib/seed.js';
import { measurePhase, phaseSummary, type PhaseResult } from './lib/phases.js';
import { enrollLoad } from './lib/load.js';
import { newSecret } from '../src/control-plane/secrets.js';
import { Phase0JsonStore, activeDevices, emptyState, seedState } from './baselines/phase0-json-store.js';
import { ratio, round } from './lib/stats.js';
import { readFileSync, existsSync } from 'node:fs';

/** Enrollments measured per size and mode (sequential / 16 clients), each phase also time-boxed. */
export const FULL = { sizes: [1_000, 10_000, 100_000], warmup: 3, maxOps: { 1000: [300, 300], 10000: [50, 50], 100000: [5, 6] } as Record<number, [number, number]>, budgetMs: 10_000, concurrency: 16, blockSize: 4 };
export const SMOKE = { sizes: [20, 300], warmup: 2, maxOps: { 20: [8, 8], 300: [8, 8] } as Record<number, [number, number]>, budgetMs: 5_000, concurrency: 16, blockSize: 2 };

async function startServer(file: string): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--max-old-space-size=8192', '--import', 'tsx', path.join(REPO_ROOT, 'bench/baselines/phase0-server.ts'), file, BENCH_IPV4_POOL, BENCH_IPV6_PREFIX], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  const kill = () => child.exitCode === null && child.kill('SIGKILL');
  process.once('exit', kill);
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`baseline server did not start: ${err}`)), 30_000);
    child.once('exit', (c) => reject(new Error(`baseline server exited ${c}: ${err}`)));
    createInterface({ input: child.stdout! }).once('line', (l) => {
      clearTimeout(t);
      resolve((JSON.parse(l) as { url: string }).url);
    });
  });
  return {
    url,
    child,
    stop: async () => {
      process.removeListener('exit', kill);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

function dammResult(ctx: RunContext): { r: BenchResult | null; sameRun: boolean } {
  const mine = ctx.earlier.get('enroll-throughput');
  if (mine && mine.status === 'ok') return { r: mine, sameRun: true };
  const f = path.join(ctx.outDir, 'enroll-throughput.json');
  if (!existsSync(f)) return { r: null, sameRun: false };
  const r = JSON.parse(readFileSync(f, 'utf8')) as BenchResult;
  return { r: r.status === 'ok' ? r : null, sameRun: r.runId === ctx.runId };
}

export const bench: Benchmark = {
  name: 'baseline',
  title: 'Phase-0 baseline: whole-file JSON state (tmp + fsync + rename + .bak, audit inline) under the same workload',
  async run(ctx: RunContext): Promise<BenchOutput> {
    const P = ctx.smoke ? SMOKE : FULL;
    const notes: string[] = [];
    const dir = await mkdtemp(path.join(tmpdir(), 'damm-bench-phase0-'));
    const file = path.join(dir, 'state.json');
    const store = new Phase0JsonStore(file, { ipv4Pool: BENCH_IPV4_POOL, ipv6Prefix: BENCH_IPV6_PREFIX });
    store.write(emptyState({ ipv4Pool: BENCH_IPV4_POOL, ipv6Prefix: BENCH_IPV6_PREFIX }));
    const server = await startServer(file);
    try {
      const perSize: Array<{ size: number; stateFileMB: number; auditEntries: number; sequential: PhaseResult; concurrent: PhaseResult }> = [];
      for (const size of P.sizes) {
        const [seqOps, concOps] = P.maxOps[size] ?? [10, 10];
        const tokens = Array.from({ length: P.warmup + seqOps + concOps }, () => newSecret('dp'));
        ctx.progress.update(`size ${size}: seeding the state file`, true);
        const s = store.read();
        seedState(s, Math.max(0, size - activeDevices(s)), tokens);
        store.write(s);
        const auditEntries = s.audit.length;
        const stateFileMB = round((await stat(file)).size / 2 ** 20, 2);
        ctx.progress.note(`size ${size}: state file ${stateFileMB} MB (${auditEntries} audit entries inline)`);
        const count = async () => activeDevices(store.read());
        await enrollLoad({ url: server.url, passes: tokens.slice(0, P.warmup), concurrency: 1 });
        const sequential = await measurePhase({
          url: server.url, countDevices: count, cpPids: [server.child.pid!], concurrency: 1, blockSize: P.blockSize, budgetMs: P.budgetMs, timeoutMs: 300_000,
          passes: tokens.slice(P.warmup, P.warmup + seqOps),
          onProgress: (d, n) => ctx.progress.update(`size ${size}: sequential ${d}/${n} (time-boxed ${P.budgetMs / 1000} s)`),
        });
        const concurrent = await measurePhase({
          url: server.url, countDevices: count, cpPids: [server.child.pid!], concurrency: P.concurrency, blockSize: P.blockSize, budgetMs: P.budgetMs, timeoutMs: 300_000,
          passes: tokens.slice(P.warmup + seqOps),
          onProgress: (d, n) => ctx.progress.update(`size ${size}: ${P.concurrency} clients ${d}/${n} (time-boxed ${P.budgetMs / 1000} s)`),
        });
        for (const ph of [sequential, concurrent]) {
          if ((ph.statuses['201'] ?? 0) !== ph.count) notes.push(`size ${size} ${ph.mode}: failures ${JSON.stringify(ph.statuses)} ${ph.failures.join(' / ')}`);
        }
        ctx.progress.note(`size ${size}: sequential ${sequential.costMs} ms/enrollment (${sequential.count} measured); ${P.concurrency} clients ${concurrent.costMs} ms/enrollment (${concurrent.count})`);
        perSize.push({ size, stateFileMB, auditEntries, sequential, concurrent });
      }
      const { r: damm, sameRun } = dammResult(ctx);
      const dammSizes = (damm?.summary['sizes'] ?? []) as Array<{ size: number; sequential: { costMs: number; latency: { mean: number } }; concurrent: { costMs: number; medianBlockThroughputPerS: number } }>;
      if (!damm) notes.push('no enroll-throughput result to compare with: run `npm run bench -- enroll-throughput baseline`');
      else if (!sameRun) notes.push(`DAMM/baseline ratios use enroll-throughput from another run (${damm.runId}); numbers from the same run compare better on this noisy machine`);
      const ratios = perSize.map((b) => {
        const d = dammSizes.find((x) => x.size === b.size);
        return {
          size: b.size,
          baselineMsPerEnroll: { sequential: b.sequential.costMs, concurrent: b.concurrent.costMs },
          dammMsPerEnroll: d ? { sequential: d.sequential.costMs, concurrent: round(1000 / d.concurrent.medianBlockThroughputPerS, 4) } : null,
          /** DAMM cost ÷ baseline cost: below 1 means DAMM is cheaper per enrollment. */
          dammOverBaseline: d ? { sequential: ratio(d.sequential.costMs, b.sequential.costMs, 4), concurrent: ratio(1000 / d.concurrent.medianBlockThroughputPerS, b.concurrent.costMs, 4) } : null,
          /** How many times faster DAMM enrolls. */
          dammSpeedup: d ? { sequential: ratio(b.sequential.costMs, d.sequential.costMs, 1), concurrent: ratio(b.concurrent.costMs, 1000 / d.concurrent.medianBlockThroughputPerS, 1) } : null,
        };
      });
      const first = perSize[0]!;
      const last = perSize[perSize.length - 1]!;
      return {
        status: 'ok',
        parameters: { ...P, stateDir: 'os.tmpdir() (same ext4 disk as Postgres here)', server: 'node:http, same request/response shape as POST /v1/enroll, one process' },
        samples: Object.fromEntries(perSize.flatMap((s) => [
          [`size${s.size}.sequential.latenciesMs`, s.sequential.latenciesMs],
          [`size${s.size}.concurrent.latenciesMs`, s.concurrent.latenciesMs],
        ])),
        summary: {
          sizes: perSize.map((s) => ({ size: s.size, stateFileMB: s.stateFileMB, auditEntries: s.auditEntries, sequential: phaseSummary(s.sequential), concurrent: phaseSummary(s.concurrent) })),
          costGrowth: { sequential: ratio(last.sequential.costMs, first.sequential.costMs, 1), concurrent: ratio(last.concurrent.costMs, first.concurrent.costMs, 1), from: first.size, to: last.size },
          ratios,
          ratiosFromSameRun: sameRun,
        },
        targets: {},
        notes,
      };
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
