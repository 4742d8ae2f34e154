/** The shape of bench/results/<name>.json, how it is written, and how the smoke test checks it. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MachineInfo, Versions } from './env.js';
import type { Progress } from './progress.js';

export const RESULT_SCHEMA = 'damm-bench/1';

export interface TargetCheck {
  /** What is promised, in words: "≥ 1,000 enrollments/s at 100k devices". */
  target: string;
  /** The measured value, in words with units. */
  measured: string;
  /** true/false when measured; null when it could not be measured in this run. */
  met: boolean | null;
}

export interface BenchResult {
  schema: typeof RESULT_SCHEMA;
  name: string;
  title: string;
  /** ok: measured; partial: some parts could not run; unavailable: nothing could run (see notes). */
  status: 'ok' | 'partial' | 'unavailable';
  smoke: boolean;
  runId: string;
  command: string;
  startedAt: string;
  durationMs: number;
  machine: MachineInfo;
  versions: Versions;
  parameters: Record<string, unknown>;
  /** Raw samples, unit in the key name (…Ms). */
  samples: Record<string, unknown>;
  summary: Record<string, unknown>;
  targets: Record<string, TargetCheck>;
  notes: string[];
}

/** What a benchmark's run() returns; the runner adds the rest. */
export type BenchOutput = Pick<BenchResult, 'status' | 'parameters' | 'samples' | 'summary' | 'targets' | 'notes'>;

export interface RunContext {
  smoke: boolean;
  progress: Progress;
  runId: string;
  outDir: string;
  /** Result files already written in this run (later benchmarks may compare with earlier ones). */
  earlier: Map<string, BenchResult>;
}

export interface Benchmark {
  name: string;
  title: string;
  run(ctx: RunContext): Promise<BenchOutput>;
}

export async function writeResult(dir: string, r: BenchResult): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${r.name}.json`);
  await writeFile(file, `${JSON.stringify(r, null, 1)}\n`);
  return file;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Problems with a result file's shape; empty when well-formed. */
export function validateResult(x: unknown, expectName?: string): string[] {
  const p: string[] = [];
  if (!isObj(x)) return ['not an object'];
  if (x['schema'] !== RESULT_SCHEMA) p.push(`schema is ${String(x['schema'])}`);
  if (typeof x['name'] !== 'string' || (expectName && x['name'] !== expectName)) p.push(`name is ${String(x['name'])}`);
  if (typeof x['title'] !== 'string' || !x['title']) p.push('title missing');
  if (!['ok', 'partial', 'unavailable'].includes(String(x['status']))) p.push(`status is ${String(x['status'])}`);
  if (typeof x['smoke'] !== 'boolean') p.push('smoke missing');
  for (const k of ['runId', 'command', 'startedAt']) if (typeof x[k] !== 'string' || !x[k]) p.push(`${k} missing`);
  if (typeof x['durationMs'] !== 'number' || !(x['durationMs'] >= 0)) p.push('durationMs missing');
  const m = x['machine'];
  if (!isObj(m) || typeof m['cores'] !== 'number' || typeof m['cpuModel'] !== 'string') p.push('machine incomplete');
  const v = x['versions'];
  if (!isObj(v) || typeof v['node'] !== 'string') p.push('versions.node missing');
  for (const k of ['parameters', 'samples', 'summary', 'targets']) if (!isObj(x[k])) p.push(`${k} is not an object`);
  if (!Array.isArray(x['notes'])) p.push('notes is not an array');
  if (isObj(x['targets'])) {
    for (const [k, t] of Object.entries(x['targets'])) {
      if (!isObj(t) || typeof t['target'] !== 'string' || typeof t['measured'] !== 'string' || !(t['met'] === null || typeof t['met'] === 'boolean')) p.push(`target ${k} malformed`);
    }
  }
  if (x['status'] === 'ok' && isObj(x['summary']) && Object.keys(x['summary']).length === 0) p.push('status ok but summary empty');
  if (x['status'] === 'ok' && isObj(x['samples']) && Object.keys(x['samples']).length === 0) p.push('status ok but no samples');
  return p;
}
