/**
 * The control plane as a Fastify app. Everything it needs is passed in
 * (store, config, clock, keys), so tests build it against a real Postgres
 * and drive it with inject() or real HTTP.
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { randomUUID } from 'node:crypto';
import type { DestinationStream } from 'pino';
import { createErrorHandler } from './errors-http.js';
import { strictInput } from './strict-validation.js';
import type { Ctx } from './context.js';
import type { Config } from './config.js';
import { publicRoutes } from './routes/public.js';
import { operatorRoutes } from './routes/operator.js';
import { gatewayRoutes } from './routes/gateway.js';
import { opsRoutes } from './routes/ops.js';
import { gatewayFeedRoutes } from './routes/gateway-feed.js';
import { consolePageRoutes, wizardRoutes } from './routes/wizard.js';
import { consoleSessionRoutes } from './routes/console-session.js';
import { trustRoutes } from './trust/routes.js';

export const REDACT_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', '*.installPass', '*.token', '*.credential', '*.registrationToken', '*.privateKey'];

export interface AppOptions {
  ctx: Ctx;
  logStream?: DestinationStream;
}

/**
 * Cuts slow and silent clients (docs/operations.md). Node 20 answers 408 and
 * closes a connection whose headers (or whole request) have not arrived in
 * time, counted from when it opened, so one that never sends a byte is cut
 * by headersTimeout. Both are checked every connectionsCheckingInterval
 * (Node's default 30 s would let a cut come that much late). requestTimeout
 * covers receiving the request only, so the feed's long poll, which holds
 * its answer, is bounded by the socket idle timeout instead.
 */
export function serverTimeouts(c: Config) {
  const shortest = Math.min(c.headersTimeoutSeconds, c.requestTimeoutSeconds) * 1000;
  return {
    requestTimeout: c.requestTimeoutSeconds * 1000,
    keepAliveTimeout: c.keepAliveTimeoutSeconds * 1000,
    connectionTimeout: c.socketIdleTimeoutSeconds * 1000,
    http: { headersTimeout: c.headersTimeoutSeconds * 1000, connectionsCheckingInterval: Math.min(1000, Math.max(100, shortest / 4)) },
  };
}

export async function buildApp(opts: AppOptions) {
  const { ctx } = opts;
  const app = Fastify({
    logger: {
      level: ctx.config.logLevel,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: {
        // Never log query strings: /get/?invite=… carries a secret.
        req: (req: { method: string; url: string; ip?: string; id?: string }) => ({ method: req.method, path: req.url.split('?')[0], ip: req.ip }),
      },
      ...(opts.logStream ? { stream: opts.logStream } : {}),
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(given) ? given : randomUUID();
    },
    // One access line per request (written in onResponse below) instead of
    // Fastify's two: measured +4-10% enrollment throughput, same information.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: ctx.config.trustedProxies.length ? ctx.config.trustedProxies : false,
    bodyLimit: ctx.config.bodyLimitBytes,
    ...serverTimeouts(ctx.config),
  }).withTypeProvider<TypeBoxTypeProvider>();
  strictInput(app);

  app.setErrorHandler(createErrorHandler((code) => ctx.metrics.rejections.inc({ reason: code })));
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: { code: 'not_found', message: `Nothing at ${request.method} ${request.url.split('?')[0]}.`, requestId: request.id } });
  });
  app.addHook('onSend', async (request, reply, payload) => {
    void reply.header('x-request-id', request.id);
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    ctx.metrics.httpRequests.inc({ route, method: request.method, status: String(reply.statusCode) });
    ctx.metrics.httpDuration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
    request.log.info({ req: request, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 }, 'request');
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'DAMM control plane', version: ctx.version, description: 'Install passes, enrollment, signed catalog, gateways, posture.' },
      components: {
        securitySchemes: {
          operator: { type: 'http', scheme: 'bearer', description: 'Operator token (do_…)' },
          gateway: { type: 'http', scheme: 'bearer', description: 'Gateway credential (dgc_…)' },
          console: { type: 'apiKey', in: 'cookie', name: '__Host-damm_session', description: 'Web console session (POST /v1/console/session); changes also need X-DAMM-CSRF and a same-origin Origin' },
        },
      },
    },
  });

  await app.register(opsRoutes(ctx));
  await app.register(publicRoutes(ctx), { prefix: '/v1' });
  await app.register(operatorRoutes(ctx), { prefix: '/v1/operator' });
  await app.register(gatewayRoutes(ctx), { prefix: '/v1/gateways' });
  await app.register(gatewayFeedRoutes(ctx), { prefix: '/v1/gateways' });
  await app.register(trustRoutes(ctx), { prefix: '/v1/trust' });
  await app.register(consoleSessionRoutes(ctx), { prefix: '/v1/console' });
  await app.register(wizardRoutes());
  await app.register(consolePageRoutes());

  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
