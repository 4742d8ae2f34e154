/**
 * `npm run bench` runs every benchmark in order; `npm run bench -- <name> …`
 * runs only those. Results go to bench/results/<name>.json, then SUMMARY.md
 * and the SVG plots are regenerated from every result in that directory.
 *
 *   --smoke      few iterations, tiny sizes (what `npm test` runs)
 *   --out DIR    write results elsewhere (the smoke test uses a temp dir)
 *   --list       print the benchmark names
 *
 * Benchmarks are measurements, not tests: nothing here fails on a number.
 * The exit code is non-zero only when a benchmark could not run at all: it
 * threw, or (outside --smoke) it reported `unavailable` (a prerequisite is
 * missing here; the reason is in its result). The smoke test accepts an
 * `unavailable` result that says why, so --smoke exits 0 for it.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { Progress } from './lib/progress.js';
import { machineInfo, versions, REPO_ROOT } from './lib/env.js';
import { dropAllLive, postgresVersion, sweepStaleDatabases } from './lib/pg.js';
import { writeResult, type Benchmark, type BenchResult } from './lib/result.js';
import { writeReport } from './lib/report.js';
import { BENCHMARK_NAMES, type BenchmarkName } from './names.js';

/** In suite order (bench/names.ts): the control-plane benchmarks first, then the gateway ones. */
export const BENCHMARKS: Record<BenchmarkName, () => Promise<Benchmark>> = {
  'enroll-throughput': async () => (await import('./enroll-throughput.js')).bench,
  baseline: async () => (await import('./baseline.js')).bench,
  'raw-pg': async () => (await import('./raw-pg.js')).bench,
  memory: async () => (await import('./memory.js')).bench,
  'enroll-to-peer-live': async () => (await import('./enroll-to-peer-live.js')).bench,
  burst: async () => (await import('./burst.js')).bench,
  'cold-start': async () => (await import('./cold-start.js')).bench,
  'ticket-verify': async () => (await import('./ticket-verify.js')).bench,
  'revoke-to-peer-gone': async () => (await import('./revoke-to-peer-gone.js')).bench,
  'door-throughput': async () => (await import('./door-throughput.js')).bench,
};

function parseArgs(argv: string[]) {
  const names: string[] = [];
  let smoke = false;
  let out = path.join(REPO_ROOT, 'bench/results');
  let list = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--smoke') smoke = true;
    else if (a === '--list') list = true;
    else if (a === '--out') out = path.resolve(argv[++i] ?? '');
    else if (a.startsWith('--out=')) out = path.resolve(a.slice(6));
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else names.push(a);
  }
  for (const n of names) if (!(BENCHMARK_NAMES as readonly string[]).includes(n)) throw new Error(`unknown benchmark "${n}"; known: ${Object.keys(BENCHMARKS).join(', ')}`);
  return { names: (names.length ? names : [...BENCHMARK_NAMES]) as BenchmarkName[], smoke, out, list };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    process.stdout.write(`${BENCHMARK_NAMES.join('\n')}\n`);
    return 0;
  }
  const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const swept = await sweepStaleDatabases();
  if (swept.length) process.stderr.write(`dropped ${swept.length} database(s) left by earlier runs\n`);
  const pgVersion = await postgresVersion();
  const earlier = new Map<string, BenchResult>();
  let failed = 0;
  const unavailable: string[] = [];
  const suiteStart = performance.now();
  for (const name of args.names) {
    const bench = await BENCHMARKS[name]();
    const progress = new Progress(name);
    const startedAt = new Date();
    const t0 = performance.now();
    const machine = machineInfo();
    const vers = versions(pgVersion);
    progress.note(`starting${args.smoke ? ' (smoke)' : ''}: ${bench.title}`);
    let result: BenchResult;
    try {
      const out = await bench.run({ smoke: args.smoke, progress, runId, outDir: args.out, earlier });
      result = { schema: 'damm-bench/1', name, title: bench.title, smoke: args.smoke, runId, command, startedAt: startedAt.toISOString(), durationMs: Math.round(performance.now() - t0), machine, versions: vers, ...out };
    } catch (err) {
      failed++;
      const msg = (err as Error).stack ?? String(err);
      progress.note(`FAILED: ${msg}`);
      result = {
        schema: 'damm-bench/1', name, title: bench.title, smoke: args.smoke, runId, command, startedAt: startedAt.toISOString(),
        durationMs: Math.round(performance.now() - t0), machine, versions: vers, status: 'unavailable',
        parameters: {}, samples: {}, summary: {}, targets: {}, notes: [`the benchmark failed: ${msg}`],
      };
    }
    if (result.status === 'unavailable' && !args.smoke && !result.notes[0]?.startsWith('the benchmark failed')) {
      unavailable.push(`${name}: ${result.notes[0] ?? 'no reason given'}`);
    }
    earlier.set(name, result);
    const file = await writeResult(args.out, result);
    progress.done(`${result.status} in ${(result.durationMs / 1000).toFixed(1)} s → ${path.relative(process.cwd(), file)}`);
  }
  // The report covers every result in the directory (a single re-run keeps the others' numbers).
  const all: BenchResult[] = [];
  for (const name of BENCHMARK_NAMES) {
    const f = path.join(args.out, `${name}.json`);
    if (existsSync(f)) all.push(JSON.parse(await readFile(f, 'utf8')) as BenchResult);
  }
  const suiteMs = Math.round(performance.now() - suiteStart);
  const written = await writeReport(args.out, all, { command, runId, suiteMs, ranNames: args.names });
  process.stderr.write(`suite ${args.names.join(', ')} took ${(suiteMs / 1000).toFixed(1)} s; report: ${written.map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
  for (const u of unavailable) process.stderr.write(`unavailable: ${u}\n`);
  return failed || unavailable.length ? 1 : 0;
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\n${sig}: dropping benchmark databases…\n`);
    void dropAllLive().finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    void dropAllLive().finally(() => process.exit(2));
  },
);
