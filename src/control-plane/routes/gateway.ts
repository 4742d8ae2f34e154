/** Gateway-facing routes. Registration takes the one-time token; every other call the gateway's own credential. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import * as S from '../../core/api-schemas.js';
import { registerGateway } from '../services/gateways.js';
import type { Ctx } from '../context.js';

export const gatewayRoutes = (ctx: Ctx): FastifyPluginAsyncTypebox => async (app) => {
  app.post('/register', {
    schema: {
      summary: 'Register a gateway with its one-time token, its doors (one lane per WireGuard-family interface) and egress IPs',
      tags: ['gateway'],
      body: S.RegisterGatewayRequest,
      response: { 201: S.RegisterGatewayResponse, 400: S.ErrorBody, 403: S.ErrorBody, 409: S.ErrorBody },
    },
  }, async (request, reply) => {
    const res = await registerGateway(ctx, request.body);
    void reply.status(201);
    return res;
  });
};
