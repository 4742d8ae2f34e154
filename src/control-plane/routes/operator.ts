/**
 * Operator API: passes, invites, devices, gateways, audit, trust status.
 * Every route needs an operator: the CLI's bearer token, or a web console
 * session cookie with its CSRF header for changes (services/console-sessions.ts).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import * as S from '../../core/api-schemas.js';
import { authenticateOperatorRequest, type Operator } from '../services/console-sessions.js';
import { issuePass, listPasses, revokePass } from '../services/passes.js';
import { listDevices, revokeDevice, setDeviceSuspended } from '../services/devices.js';
import { addGateway, gatewaySummary, listGateways, removeGateway, setGatewayDrained } from '../services/gateways.js';
import { gatewayDetails, overview } from '../services/overview.js';
import { trustStatus } from '../trust/status.js';
import { listAudit } from '../../store/audit.js';
import type { Ctx } from '../context.js';
import { getRoot } from '../trust/roots.js';
import { Type } from '@sinclair/typebox';
import { encodeJoinCode } from '../../core/join-code.js';
import { DammError } from '../../core/errors.js';

const errors = { 400: S.ErrorBody, 401: S.ErrorBody, 403: S.ErrorBody, 404: S.ErrorBody, 409: S.ErrorBody };

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
    (request as unknown as { operator: Operator }).operator = await authenticateOperatorRequest(ctx, request);
  });
  const actor = (request: unknown) => `operator:${(request as { operator: Operator }).operator.name}`;
  const origin = (request: { protocol: string; host: string }) => `${request.protocol}://${request.host}`;
  const security: Record<string, string[]>[] = [{ operator: [] }, { console: [] }];

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

  app.post('/passes/:id/revoke', {
    schema: { summary: 'Revoke a pass or invite: its link stops working; devices enrolled with it stay', tags: ['operator'], security, params: S.PassIdParams, response: { 204: Type.Null(), ...errors } },
  }, async (request, reply) => {
    await revokePass(ctx, actor(request), request.params.id);
    return reply.status(204).send(null);
  });

  app.get('/devices', {
    schema: { summary: 'List devices, newest first; search by id, address, key prefix or invite note', tags: ['operator'], security, querystring: S.DeviceQuery, response: { 200: S.DeviceListResponse, ...errors } },
  }, async (request) => ({
    devices: await listDevices(ctx, { limit: request.query.limit ?? 100, ...(request.query.state ? { state: request.query.state } : {}), ...(request.query.q ? { q: request.query.q } : {}) }),
  }));

  app.post('/devices/:id/suspend', {
    schema: { summary: 'Suspend a device: its peer leaves every gateway; its address is kept', tags: ['operator'], security, params: S.DeviceIdParams, body: S.DeviceStateRequest, response: { 200: S.DeviceSummary, ...errors } },
  }, async (request) => setDeviceSuspended(ctx, actor(request), request.params.id, true, request.body.reason ?? 'suspended by operator'));

  app.post('/devices/:id/resume', {
    schema: { summary: 'Resume a suspended device: it is admitted on its gateways again', tags: ['operator'], security, params: S.DeviceIdParams, body: S.DeviceStateRequest, response: { 200: S.DeviceSummary, ...errors } },
  }, async (request) => setDeviceSuspended(ctx, actor(request), request.params.id, false, request.body.reason ?? 'resumed by operator'));

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

  app.get('/gateways/detail', {
    schema: { summary: 'Gateways with their peers, bytes metered today and heartbeat age', tags: ['operator'], security, response: { 200: S.GatewayDetailList, ...errors } },
  }, async () => ({ gateways: await gatewayDetails(ctx) }));

  app.get('/overview', {
    schema: { summary: 'Posture, gateways and doors up/down, devices, enrollments per hour, bytes per day, warnings', tags: ['operator'], security, response: { 200: S.Overview, ...errors, 503: S.ErrorBody } },
  }, async () => overview(ctx));

  app.get('/trust', {
    schema: { summary: 'Trust status (read-only): root version, online keys and their windows, next rotation due, warnings', tags: ['operator'], security, response: { 200: S.TrustStatus, ...errors, 503: S.ErrorBody } },
  }, async () => trustStatus(ctx.db, ctx.config.dataDir, ctx.clock.now()));

  app.get('/audit', {
    schema: { summary: 'Read the audit log', tags: ['operator'], security, querystring: S.AuditQuery, response: { 200: S.AuditList, ...errors } },
  }, async (request) => {
    const { limit, afterId, action, actor: by, subject, since, until } = request.query;
    const rows = await listAudit(ctx.db, {
      limit: limit ?? 100,
      ...(afterId !== undefined ? { afterId } : {}),
      ...(action ? { action } : {}),
      ...(by ? { actor: by } : {}),
      ...(subject ? { subject } : {}),
      ...(since ? { since: new Date(since) } : {}),
      ...(until ? { until: new Date(until) } : {}),
    });
    return { entries: rows.map((r) => ({ id: Number(r.id), at: r.at.toISOString(), actor: r.actor, action: r.action, subject: r.subject, details: r.details })) };
  });
};
