/** burst: placeholder until the harness lands (needs the gateway agent). */
import type { Benchmark, BenchOutput } from './lib/result.js';

export const bench: Benchmark = {
  name: 'burst',
  title: 'burst (gateway agent)',
  async run(): Promise<BenchOutput> {
    return { status: 'unavailable', parameters: {}, samples: {}, summary: {}, targets: {}, notes: ['harness not written yet: waits for the gateway agent (src/gateway/agent/)'] };
  },
};
