/**
 * Public trust routes: the published root chain.
 *
 *   GET /v1/trust                       latest version and the sha256 of root v1 (what clients pin)
 *   GET /v1/trust/root.json             the latest root envelope
 *   GET /v1/trust/root/{version}.json   every version, forever (clients walk N -> N+1 -> ...)
 *
 * Served from the store, byte for byte as published, so every process
 * serves the same chain. Serving the pin here is a convenience for display;
 * a client's pin must come from somewhere else (the operator, the install
 * bundle) or it protects nothing.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import * as S from '../../core/api-schemas.js';
import { DammError } from '../../core/errors.js';
import type { Ctx } from '../context.js';
import { getRoot, latestRoot } from './roots.js';

const TrustIndex = Type.Object({
  latestVersion: Type.Integer(),
  latestExpiresAt: Type.String(),
  rootV1Sha256: Type.String(),
  root: Type.String(),
  versions: Type.String(),
});

export function trustRoutes(ctx: Ctx) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/', {
      schema: { summary: 'The published root chain: latest version and the sha256 of root v1 that clients pin', tags: ['trust'], response: { 200: TrustIndex, 503: S.ErrorBody } },
    }, async (_req, reply) => {
      const latest = await latestRoot(ctx.db);
      const v1 = await getRoot(ctx.db, 1);
      if (!latest || !v1) throw new DammError('store_unavailable', 'No root is published yet (run "damm init").');
      void reply.header('cache-control', 'no-cache');
      return {
        latestVersion: latest.version,
        latestExpiresAt: latest.expiresAt.toISOString(),
        rootV1Sha256: v1.payloadSha256,
        root: '/v1/trust/root.json',
        versions: '/v1/trust/root/{version}.json',
      };
    });

    app.get('/root.json', {
      schema: { summary: 'The latest root document (DSSE envelope signed by the offline root keys)', tags: ['trust'], response: { 200: S.SignedEnvelope, 503: S.ErrorBody } },
    }, async (_req, reply) => {
      const latest = await latestRoot(ctx.db);
      if (!latest) throw new DammError('store_unavailable', 'No root is published yet (run "damm init").');
      void reply.header('cache-control', 'no-cache').header('x-damm-root-version', String(latest.version)).type('application/json');
      return reply.send(latest.text);
    });

    app.get<{ Params: { version: string } }>('/root/:version.json', {
      schema: {
        summary: 'Root document version N; 404 past the latest (the end of the chain)',
        tags: ['trust'],
        params: Type.Object({ version: Type.String({ pattern: '^[1-9][0-9]{0,8}$' }) }),
        response: { 200: S.SignedEnvelope, 400: S.ErrorBody, 404: S.ErrorBody },
      },
    }, async (req, reply) => {
      const version = Number(req.params.version);
      const root = await getRoot(ctx.db, version);
      if (!root) throw new DammError('not_found', `No root version ${version} is published.`);
      // A published version never changes; a short max-age still lets a store restored from backup correct a cache.
      void reply.header('cache-control', 'public, max-age=300').header('x-damm-root-version', String(version)).type('application/json');
      return reply.send(root.text);
    });
  };
}
