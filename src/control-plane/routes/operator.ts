/** Operator API: passes, invites, devices, gateways, audit. Every route needs an operator token. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import * as S from '../../core/api-schemas.js';
import { authenticateOperator } from '../services/operators.js';
import { issuePass, listPasses } from '../services/passes.js';
import { listDevices, revokeDevice } from '../services/devices.js';
import { addGateway, gatewaySummary, listGateways, removeGateway, setGatewayDrained } from '../services/gateways.js';
import { listAudit } from '../../store/audit.js';
import type { Ctx } from '../context.js';
import { getRoot } from '../trust/roots.js';
import { Type } from '@sinclair/typebox';
import { encodeJoinCode } from '../../core/join-code.js';
import { DammError } from '../../core/errors.js';

const errors = { 400: S.ErrorBody, 401: S.ErrorBody, 404: S.ErrorBody, 409: S.ErrorBody };

/**
 * The link a person opens: `/get/?invite=<token>#root=<sha256 of root v1>`.
 * The fragment carries the root-of-trust pin to the wizard without it ever
 * reaching a server (browsers do not send fragments), so the page checks the
 * catalog against the root the operator's service was created with rather
 * than whatever root the server it talks to claims. No root published yet
 * (not possible after init) means no fragment; the wizard then says its
 * trust is on first use.
 */
export async function passLink(ctx: Ctx, token: string, origin: string): Promise<string> {
  const rootV1 = await getRoot(ctx.db, 1);
  const pin = rootV1 ? `#root=${rootV1.payloadSha256}` : '';
  return `${ctx.config.publicUrl ?? origin}/get/?invite=${encodeURIComponent(token)}${pin}`;
}

export const operatorRoutes = (ctx: Ctx): FastifyPluginAsyncTypebox => async (app) => {
  app.decorateRequest('operator', null);
  app.addHook('onRequest', async (request) => {
    const op = await authenticateOperator(ctx.db, request.headers.authorization);
    (request as unknown as { operator: { id: string; name: string } }).operator = op;
  });
  const actor = (request: unknown) => `operator:${(request as { operator: { name: string } }).operator.name}`;
  const origin = (request: { protocol: string; host: string }) => `${request.protocol}://${request.host}`;
  const security = [{ operator: [] }];

  app.post('/passes', {
    schema: { summary: 'Issue a single-use install pass', tags: ['operator'], security, body: S.IssuePassRequest, response: { 201: S.IssuedPass, ...errors } },
  }, async (request, reply) => {
    const p = await issuePass(ctx, actor(request), { kind: 'operator', ...request.body });
    void reply.status(201);
    return { id: p.id, kind: p.kind, token: p.token, link: await passLink(ctx, p.token, origin(request)), tier: p.tier, uses: p.uses, expiresAt: p.expiresAt.toISOString() };
  });

  app.post('/invites', {
    schema: { summary: 'Issue an invite: a tier, an expiry and a number of uses', tags: ['operator'], security, body: S.IssueInviteRequest, response: { 201: S.IssuedPass, ...errors } },
  }, async (request, reply) => {
    const p = await issuePass(ctx, actor(request), { kind: 'invite', ...request.body });
    void reply.status(201);
    return { id: p.id, kind: p.kind, token: p.token, link: await passLink(ctx, p.token, origin(request)), tier: p.tier, uses: p.uses, expiresAt: p.expiresAt.toISOString() };
  });

  app.get('/passes', {
    schema: { summary: 'List passes and invites (never their secrets)', tags: ['operator'], security, querystring: S.ListQuery, response: { 200: S.PassList, ...errors } },
  }, async (request) => ({ passes: await listPasses(ctx.db, ctx.clock.now(), request.query.limit ?? 100) }));

  app.get('/devices', {
    schema: {
      summary: 'List devices',
      tags: ['operator'],
      security,
      querystring: S.Strict({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })), state: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('revoked')])) }),
      response: { 200: S.DeviceList, ...errors },
    },
  }, async (request) => ({ devices: await listDevices(ctx.db, { limit: request.query.limit ?? 100, ...(request.query.state ? { state: request.query.state } : {}) }) }));

  app.post('/devices/:id/revoke', {
    schema: { summary: 'Revoke a device: its peer leaves every gateway, its address is freed', tags: ['operator'], security, params: S.DeviceIdParams, body: S.RevokeDeviceRequest, response: { 200: S.DeviceSummary, ...errors } },
  }, async (request) => revokeDevice(ctx, actor(request), request.params.id, request.body.reason ?? 'revoked by operator'));

  app.post('/gateways', {
    schema: { summary: 'Add a gateway: returns a one-time registration token', tags: ['operator'], security, body: S.AddGatewayRequest, response: { 201: S.AddGatewayResponse, ...errors } },
  }, async (request, reply) => {
    const res = await addGateway(ctx, actor(request), request.body);
    const rootV1 = await getRoot(ctx.db, 1);
    if (!rootV1) throw new DammError('trust_invalid', 'No root of trust is published yet ("damm init" publishes root v1): a gateway could not pin it.');
    const joinCode = encodeJoinCode({ controlPlane: ctx.config.publicUrl ?? origin(request), token: res.registrationToken, rootSha256: rootV1.payloadSha256 });
    void reply.status(201);
    return { ...res, joinCode };
  });

  app.get('/gateways', {
    schema: { summary: 'List gateways with their online state', tags: ['operator'], security, response: { 200: S.GatewayList, ...errors } },
  }, async () => {
    const now = ctx.clock.now();
    return { gateways: (await listGateways(ctx.db)).map((g) => gatewaySummary(ctx, g, now)) };
  });

  for (const [verb, drained, summary] of [
    ['drain', true, 'Drain a gateway: no new devices are placed there; its devices keep working and its doors stay in the catalog'],
    ['undrain', false, 'Undrain a gateway: it takes new placements again'],
  ] as const) {
    app.post(`/gateways/:id/${verb}`, {
      schema: { summary, tags: ['operator'], security, params: S.GatewayIdParams, body: S.GatewayActionRequest, response: { 200: S.GatewaySummary, ...errors } },
    }, async (request) => gatewaySummary(ctx, await setGatewayDrained(ctx, actor(request), request.params.id, drained, request.body.reason), ctx.clock.now()));
  }

  app.post('/gateways/:id/remove', {
    schema: {
      summary: 'Remove a gateway for good: it leaves the catalog and placement, its credential stops working; devices placed there are told by whoami to get a new config',
      tags: ['operator'],
      security,
      params: S.GatewayIdParams,
      body: S.GatewayActionRequest,
      response: { 200: S.GatewayRemoved, ...errors },
    },
  }, async (request) => {
    const { gateway: g, devicesPlaced } = await removeGateway(ctx, actor(request), request.params.id, request.body.reason);
    return { id: g.id, name: g.name, region: g.region, removedAt: g.removed_at!.toISOString(), devicesPlaced };
  });

  app.get('/audit', {
    schema: { summary: 'Read the audit log', tags: ['operator'], security, querystring: S.AuditQuery, response: { 200: S.AuditList, ...errors } },
  }, async (request) => {
    const rows = await listAudit(ctx.db, { limit: request.query.limit ?? 100, ...(request.query.afterId !== undefined ? { afterId: request.query.afterId } : {}), ...(request.query.action ? { action: request.query.action } : {}) });
    return { entries: rows.map((r) => ({ id: Number(r.id), at: r.at.toISOString(), actor: r.actor, action: r.action, subject: r.subject, details: r.details })) };
  });
};
