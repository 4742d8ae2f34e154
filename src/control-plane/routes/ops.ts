/** Liveness, readiness and metrics for whoever runs the service. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import * as S from '../../core/api-schemas.js';
import { storeUnavailable } from '../../store/db.js';
import type { Ctx } from '../context.js';

export const opsRoutes = (ctx: Ctx): FastifyPluginAsyncTypebox => async (app) => {
  app.get('/healthz', { schema: { tags: ['ops'], response: { 200: S.HealthResponse } } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { tags: ['ops'], response: { 200: S.HealthResponse, 503: S.ErrorBody } } }, async () => {
    try {
      await ctx.db.query('SELECT 1');
    } catch (cause) {
      throw storeUnavailable(cause);
    }
    return { status: 'ready' };
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    void reply.header('content-type', ctx.metrics.registry.contentType);
    await ctx.metrics.refreshGatewayGauges();
    return ctx.metrics.registry.metrics();
  });
};
