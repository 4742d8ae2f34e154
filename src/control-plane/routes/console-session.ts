/**
 * Web console sign-in and sign-out (docs/console.md):
 *
 *   POST   /v1/console/session   operator token in the body → session cookie + CSRF token
 *   GET    /v1/console/session   the signed-in operator, session limits and CSRF token
 *   DELETE /v1/console/session   sign out (CSRF header and same origin required)
 *
 * Everything else the console does goes through the operator API.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import * as S from '../../core/api-schemas.js';
import type { Ctx } from '../context.js';
import { CLEARED_SESSION_COOKIE, currentSession, sessionCookie, signIn, signOut, type SessionInfo } from '../services/console-sessions.js';

const errors = { 400: S.ErrorBody, 401: S.ErrorBody, 403: S.ErrorBody, 429: S.ErrorBody };

const body = (s: SessionInfo) => ({ operator: s.operator, csrfToken: s.csrfToken, expiresAt: s.expiresAt.toISOString(), idleExpiresAt: s.idleExpiresAt.toISOString() });

export const consoleSessionRoutes = (ctx: Ctx): FastifyPluginAsyncTypebox => async (app) => {
  // Nothing here may be stored by a cache between the browser and us.
  app.addHook('onSend', async (_request, reply, payload) => {
    void reply.header('cache-control', 'no-store');
    return payload;
  });

  app.post('/session', {
    schema: { summary: 'Sign in to the web console with an operator token: sets an HttpOnly session cookie', tags: ['console'], body: S.SignInRequest, response: { 201: S.ConsoleSession, ...errors } },
  }, async (request, reply) => {
    const { sessionId, info } = await signIn(ctx, request, request.body.token);
    void reply.status(201).header('set-cookie', sessionCookie(sessionId, ctx.config.consoleSessionMaxSeconds));
    return body(info);
  });

  app.get('/session', {
    schema: { summary: 'The signed-in console session (operator, limits, CSRF token)', tags: ['console'], security: [{ console: [] }], response: { 200: S.ConsoleSession, ...errors } },
  }, async (request) => body(await currentSession(ctx, request)));

  app.delete('/session', {
    schema: { summary: 'Sign out of the web console', tags: ['console'], security: [{ console: [] }], response: { 204: Type.Null(), ...errors } },
  }, async (request, reply) => {
    await signOut(ctx, request);
    return reply.status(204).header('set-cookie', CLEARED_SESSION_COOKIE).send(null);
  });
};
