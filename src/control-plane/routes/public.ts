/** Routes any visitor may call: passes, enrollment, whoami, catalog, keys, posture. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import * as S from '../../core/api-schemas.js';
import { mintPublicPass } from '../services/passes.js';
import { enroll } from '../services/enroll.js';
import { whoami, type UsageReader } from '../services/whoami.js';
import { currentCatalog } from '../services/catalog.js';
import { posture } from '../services/posture.js';
import { readUsage } from '../services/usage.js';
import type { Ctx } from '../context.js';

const errors = { 400: S.ErrorBody, 403: S.ErrorBody, 409: S.ErrorBody, 429: S.ErrorBody, 503: S.ErrorBody };

export const publicRoutes = (ctx: Ctx, usage?: UsageReader): FastifyPluginAsyncTypebox => async (app) => {
  app.post('/install-passes', {
    schema: {
      summary: 'Mint a single-use install pass (public mode; limited per client IP)',
      tags: ['enrollment'],
      response: { 201: S.MintPassResponse, ...errors },
    },
  }, async (request, reply) => {
    const pass = await mintPublicPass(ctx, request.ip);
    void reply.status(201);
    return { installPass: pass.token, kind: 'public' as const, tier: pass.tier, expiresAt: pass.expiresAt.toISOString() };
  });

  app.post('/enroll', {
    schema: {
      summary: 'Enroll a device: consume a pass or invite, get addresses and a front door',
      description: 'Send only the WireGuard public key. The private key never leaves the device; no DAMM API accepts one.',
      tags: ['enrollment'],
      body: S.EnrollRequest,
      response: { 201: S.EnrollResponse, ...errors },
    },
  }, async (request, reply) => {
    const res = await enroll(ctx, request.body);
    void reply.status(201);
    return res;
  });

  app.get('/whoami', {
    schema: { summary: 'What the control plane sees of the caller, and whether it came through DAMM', tags: ['status'], querystring: S.WhoamiQuery, response: { 200: S.Whoami, 400: S.ErrorBody } },
  }, async (request, reply) => {
    void reply.header('cache-control', 'no-store');
    return whoami(ctx, request.ip, request.query.device, usage ?? readUsage);
  });

  app.get('/catalog', {
    schema: { summary: 'The signed catalog of front doors (DSSE envelope, Ed25519)', tags: ['trust'], response: { 200: S.SignedEnvelope } },
  }, async (_request, reply) => {
    const c = await currentCatalog(ctx);
    void reply.header('cache-control', 'no-cache');
    return c.envelope;
  });

  app.get('/keys', {
    schema: {
      summary: 'Online keys that verify the catalog and admission records right now',
      description: 'Convenience only: the keys the latest root certifies and that are valid now. Clients should pin the root (GET /v1/trust/root/1.json, checked against its sha256 from the operator) and walk /v1/trust/root/{version}.json, not trust this list: it changes on every rotation and proves nothing by itself.',
      tags: ['trust'],
      response: { 200: S.PublishedKeys },
    },
  }, async () => ({
    catalog: ctx.keys.publicKeys('catalog').map((k) => ({ ...k, algorithm: 'ed25519' as const })),
    admission: ctx.keys.publicKeys('admission').map((k) => ({ ...k, algorithm: 'ed25519' as const })),
  }));

  app.get('/posture', {
    schema: { summary: 'Service health in words: catalog freshness, gateways per region and tier', tags: ['status'], response: { 200: S.Posture } },
  }, async (_request, reply) => {
    void reply.header('cache-control', 'no-cache');
    return posture(ctx);
  });

};
