/** Benchmark names in suite order (the runner and the smoke test share this list). */
export const BENCHMARK_NAMES = ['enroll-throughput', 'baseline', 'raw-pg', 'memory', 'enroll-to-peer-live', 'burst', 'cold-start', 'ticket-verify', 'revoke-to-peer-gone', 'door-throughput'] as const;
export type BenchmarkName = (typeof BENCHMARK_NAMES)[number];
