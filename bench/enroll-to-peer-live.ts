/** enroll-to-peer-live: placeholder until the harness lands (needs the gateway agent). */
import type { Benchmark, BenchOutput } from './lib/result.js';

export const bench: Benchmark = {
  name: 'enroll-to-peer-live',
  title: 'enroll-to-peer-live (gateway agent)',
  async run(): Promise<BenchOutput> {
    return { status: 'unavailable', parameters: {}, samples: {}, summary: {}, targets: {}, notes: ['harness not written yet: waits for the gateway agent (src/gateway/agent/)'] };
  },
};
