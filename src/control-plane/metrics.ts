import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the scrape-time gauges read; the server passes a closure over its context, tests a fake. */
export interface GatewayGaugeSource {
  /** Every registered gateway with its latest heartbeat; throws when the store is down. */
  gateways(): Promise<Array<{ id: string; name: string; region: string; online: boolean; lastHeartbeatAt: Date | null }>>;
  now(): Date;
}

/**
 * One registry per app instance, so tests and multiple apps in one process
 * never collide. The series are the ones deploy/grafana-dashboard.json and
 * deploy/prometheus.yml use; test/control-plane/metrics-kit.test.ts keeps
 * the two in step.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'damm_process_' });
  let source: GatewayGaugeSource | null = null;
  const storeUp = new Gauge({ name: 'damm_store_up', help: '1 when the last scrape could read the store, else 0', registers: [registry] });
  const heartbeatAge = new Gauge({
    name: 'damm_gateway_heartbeat_age_seconds',
    help: 'Seconds since each registered gateway last sent a heartbeat (absent: never)',
    labelNames: ['gateway', 'name', 'region'] as const,
    registers: [registry],
  });
  const gatewayUp = new Gauge({
    name: 'damm_gateway_online',
    help: '1 when the gateway heartbeats within the offline threshold (it is in placement and the catalog), else 0',
    labelNames: ['gateway', 'name', 'region'] as const,
    registers: [registry],
  });
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
    feedLag: new Gauge({
      name: 'damm_gateway_feed_lag_revisions',
      help: "Feed revisions a gateway had not yet read when it last polled this process (head minus its cursor)",
      labelNames: ['gateway'] as const,
      registers: [registry],
    }),
    feedHead: new Gauge({ name: 'damm_feed_head_revision', help: 'Newest feed revision this process has seen', registers: [registry] }),
    /**
     * Reads gateway liveness at scrape time, so the figures are as fresh as
     * the scrape. A store outage sets damm_store_up 0 and drops the per-gateway
     * series rather than failing the scrape: the process's own metrics stay visible.
     */
    watchGateways(s: GatewayGaugeSource): void {
      source = s;
    },
    async refreshGatewayGauges(): Promise<void> {
      if (!source) return;
      heartbeatAge.reset();
      gatewayUp.reset();
      try {
        const now = source.now().getTime();
        for (const g of await source.gateways()) {
          const labels = { gateway: g.id, name: g.name, region: g.region };
          gatewayUp.set(labels, g.online ? 1 : 0);
          if (g.lastHeartbeatAt) heartbeatAge.set(labels, Math.max(0, (now - g.lastHeartbeatAt.getTime()) / 1000));
        }
        storeUp.set(1);
      } catch {
        storeUp.set(0);
      }
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
