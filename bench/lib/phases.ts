/** Measuring one enrollment phase through HTTP with CPU accounting: shared by the DAMM benchmarks. */
import type { Db } from '../../src/store/db.js';
import { trackCpu } from './cpu.js';
import { enrollLoad } from './load.js';
import { backendPids } from './pg.js';
import { countDevices } from './seed.js';
import { distribution, round, type Distribution } from './stats.js';

export interface PhaseResult {
  mode: 'sequential' | 'concurrent';
  concurrency: number;
  count: number;
  devicesAtStart: number;
  devicesAtEnd: number;
  wallMs: number;
  throughputPerS: number;
  /** Wall time per enrollment = 1 / throughput. */
  costMs: number;
  /** Throughput of each block of `blockSize` completions; the median is robust to a neighbour's burst. */
  blockThroughputPerS: number[];
  medianBlockThroughputPerS: number;
  latency: Distribution;
  /** CPU ms per enrollment by process group, and how busy the whole machine was. */
  cpuMsPerEnroll: { controlPlane: number; postgres: number; loadgen: number };
  machineBusyPct: number;
  /** CPU the rest of the machine used meanwhile (other work on this shared box), in cores. */
  neighbourCores: number;
  statuses: Record<string, number>;
  failures: string[];
  latenciesMs: number[];
}

export async function measurePhase(o: {
  url: string;
  /** Where devices are counted and whose backends are charged; absent for the JSON baseline. */
  db?: Db;
  dbName?: string;
  countDevices?: () => Promise<number>;
  cpPids: number[];
  budgetMs?: number;
  timeoutMs?: number;
  passes: string[];
  concurrency: number;
  blockSize: number;
  onProgress?: (done: number, total: number) => void;
}): Promise<PhaseResult> {
  const count = o.countDevices ?? (o.db ? () => countDevices(o.db!) : async () => NaN);
  const devicesAtStart = await count();
  const blocks: number[] = [];
  let blockStart = performance.now();
  let inBlock = 0;
  const tracker = await trackCpu({ cp: () => o.cpPids, pg: () => (o.db && o.dbName ? backendPids(o.db, o.dbName) : []) });
  const r = await enrollLoad({
    url: o.url,
    passes: o.passes,
    concurrency: o.concurrency,
    ...(o.budgetMs !== undefined ? { budgetMs: o.budgetMs } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    onProgress: (done, total) => {
      inBlock++;
      if (inBlock === o.blockSize) {
        const now = performance.now();
        blocks.push(round((o.blockSize / (now - blockStart)) * 1000, 1));
        blockStart = now;
        inBlock = 0;
      }
      o.onProgress?.(done, total);
    },
  });
  const cpu = await tracker.stop();
  const devicesAtEnd = await count();
  const ok = r.statuses['201'] ?? 0;
  const sortedBlocks = [...blocks].sort((x, y) => x - y);
  const perEnroll = (ms: number) => round(ms / Math.max(1, ok), 3);
  return {
    mode: o.concurrency === 1 ? 'sequential' : 'concurrent',
    concurrency: o.concurrency,
    count: r.count,
    devicesAtStart,
    devicesAtEnd,
    wallMs: round(r.wallMs, 1),
    throughputPerS: round((ok / r.wallMs) * 1000, 1),
    costMs: round(r.wallMs / Math.max(1, ok), 4),
    blockThroughputPerS: blocks,
    medianBlockThroughputPerS: sortedBlocks.length ? sortedBlocks[Math.floor(sortedBlocks.length / 2)]! : round((ok / r.wallMs) * 1000, 1),
    latency: distribution(r.latenciesMs),
    cpuMsPerEnroll: { controlPlane: perEnroll(cpu['cp']!), postgres: perEnroll(cpu['pg']!), loadgen: perEnroll(cpu.loadgen) },
    machineBusyPct: cpu.machineBusyPct,
    neighbourCores: cpu.neighbourCores,
    statuses: r.statuses,
    failures: r.failures,
    latenciesMs: r.latenciesMs.map((x) => round(x, 3)),
  };
}

/** A phase without its raw samples, for summaries. */
export function phaseSummary(p: PhaseResult): Omit<PhaseResult, 'latenciesMs' | 'blockThroughputPerS'> {
  const { latenciesMs: _l, blockThroughputPerS: _b, ...rest } = p;
  return rest;
}
