import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per app instance, so tests and multiple apps in one process never collide. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'damm_process_' });
  return {
    registry,
    httpRequests: new Counter({ name: 'damm_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'] as const, registers: [registry] }),
    httpDuration: new Histogram({
      name: 'damm_http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['route', 'method'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30],
      registers: [registry],
    }),
    passesMinted: new Counter({ name: 'damm_passes_minted_total', help: 'Install passes and invites issued', labelNames: ['kind'] as const, registers: [registry] }),
    enrollments: new Counter({ name: 'damm_enrollments_total', help: 'Devices enrolled', registers: [registry] }),
    rejections: new Counter({ name: 'damm_rejections_total', help: 'Requests refused, by reason code', labelNames: ['reason'] as const, registers: [registry] }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
