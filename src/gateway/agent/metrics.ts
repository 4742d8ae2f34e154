/**
 * The gateway agent's own Prometheus metrics, served on a local port
 * (`--metrics-listen`, loopback by default: they name devices' counts and
 * the feed position, nothing secret, but they are for the operator's
 * Prometheus, not the world). deploy/prometheus.yml scrapes them.
 */
import http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createAgentMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'damm_agent_process_' });
  return {
    registry,
    peers: new Gauge({ name: 'damm_agent_peers', help: 'Peers on each door interface (lane) as last applied', labelNames: ['lane', 'protocol'] as const, registers: [registry] }),
    applySeconds: new Histogram({
      name: 'damm_agent_apply_seconds',
      help: 'Time to apply one batch of peer changes to one interface',
      labelNames: ['lane'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
    feedRevision: new Gauge({ name: 'damm_agent_feed_revision', help: 'The feed revision this agent has applied through', registers: [registry] }),
    feedAnsweredAt: new Gauge({ name: 'damm_agent_feed_answered_timestamp_seconds', help: 'When the control plane last answered a feed or snapshot request (alert on time() minus this)', registers: [registry] }),
    refusals: new Counter({ name: 'damm_agent_refusals_total', help: 'Admission or revocation records refused by verification, by reason', labelNames: ['reason'] as const, registers: [registry] }),
    controlPlaneUp: new Gauge({ name: 'damm_agent_control_plane_up', help: '1 while the last call to the control plane got an answer, else 0', registers: [registry] }),
  };
}
export type AgentMetrics = ReturnType<typeof createAgentMetrics>;

/** Serves GET /metrics on host:port; resolves once listening. */
export async function serveAgentMetrics(metrics: AgentMetrics, listen: { host: string; port: number }): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
