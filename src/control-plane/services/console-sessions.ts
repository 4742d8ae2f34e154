/**
 * Web console sign-in (docs/console.md). An operator exchanges an operator
 * token for a session: a random id held only in an HttpOnly, Secure,
 * SameSite=Strict cookie, stored only as its SHA-256 hash, that ends after
 * an idle time, at an absolute lifetime, on sign-out, or when its operator
 * token is revoked. The token itself is never kept by the browser.
 *
 * Every operator API call accepts either the CLI's bearer token or this
 * cookie (authenticateOperatorRequest). With the cookie, a call that changes
 * anything must also carry the session's CSRF token in X-DAMM-CSRF and come
 * from this service's own origin: SameSite=Strict already keeps the cookie
 * off other sites' requests, and these two checks hold even where a browser
 * or a proxy gets that wrong.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { clientNetwork } from '../../core/client-network.js';
import { DammError } from '../../core/errors.js';
import { audit } from '../../store/audit.js';
import { takeToken } from '../../store/rate-limit.js';
import type { Queryable } from '../../store/db.js';
import type { Ctx } from '../context.js';
import { hashSecret, newSecret } from '../secrets.js';
import { authenticateOperator, operatorByToken } from './operators.js';

/** `__Host-`: the browser only keeps it if Secure, Path=/ and no Domain, so no subdomain can plant or shadow it. */
export const SESSION_COOKIE = '__Host-damm_session';
export const CSRF_HEADER = 'x-damm-csrf';
const SESSION_PATTERN = /^ds_[A-Za-z0-9_-]{32}$/;
/** Sign-in attempts per client network in any rolling window (shared by all processes). */
const SIGN_IN_LIMIT = 20;
const SIGN_IN_WINDOW_SECONDS = 600;

export interface Operator {
  id: string;
  name: string;
  /** How this request proved who it is: the CLI's bearer token or a console session. */
  via: 'token' | 'console';
}

export interface SessionInfo {
  operator: string;
  csrfToken: string;
  expiresAt: Date;
  idleExpiresAt: Date;
}

/**
 * The CSRF token is derived from the session id, so it needs no storage and
 * dies with the session. Script on this origin reads it from the API (it
 * cannot read the HttpOnly cookie); another site can neither read the
 * cookie nor compute this from anything it can see.
 */
export function csrfTokenFor(sessionId: string): string {
  return createHash('sha256').update(`damm-console-csrf\0${sessionId}`, 'utf8').digest('base64url');
}

export function sessionIdFromCookies(header: string | undefined): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    return SESSION_PATTERN.test(value) ? value : null;
  }
  return null;
}

export function sessionCookie(sessionId: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${sessionId}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Strict`;
}

export const CLEARED_SESSION_COOKIE = `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict`;

/** The origin this service is reached at: DAMM_PUBLIC_URL's when set (behind a proxy), else the request's own. */
export function expectedOrigin(ctx: Ctx, request: Pick<FastifyRequest, 'protocol' | 'host'>): string {
  return ctx.config.publicUrl ? new URL(ctx.config.publicUrl).origin : `${request.protocol}://${request.host}`;
}

function sameOrigin(ctx: Ctx, request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (typeof origin !== 'string' || origin !== expectedOrigin(ctx, request)) return false;
  // Browsers that send Sec-Fetch-Site say where the request really came from.
  const site = request.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin';
}

/** Sign-in: the token is checked, a session is made, and only the session id goes back (in the cookie). */
export async function signIn(ctx: Ctx, request: FastifyRequest, token: string): Promise<{ sessionId: string; info: SessionInfo }> {
  const now = ctx.clock.now();
  if (request.headers.origin !== undefined && !sameOrigin(ctx, request)) {
    throw new DammError('csrf_refused', 'Sign-in is only accepted from this service\'s own console page.');
  }
  const slot = await takeToken(ctx.db, `console-sign-in:${clientNetwork(request.ip, ctx.config.mintLimitIpv6Prefix)}`, SIGN_IN_LIMIT, SIGN_IN_WINDOW_SECONDS, now);
  if (!slot.allowed) {
    throw new DammError('rate_limited', `Too many sign-in attempts from your network. Try again in ${Math.ceil(slot.retryAfterSeconds / 60)} minute(s).`, {
      details: { retryAfterSeconds: slot.retryAfterSeconds },
    });
  }
  const op = await operatorByToken(ctx.db, token.trim());
  if (!op) {
    throw new DammError('unauthorized', 'That operator token is not valid: it is unknown or has been revoked. Check that you pasted all of it (it starts with "do_"), or create a new one on the control-plane host.');
  }
  const sessionId = newSecret('ds');
  const expiresAt = new Date(now.getTime() + ctx.config.consoleSessionMaxSeconds * 1000);
  await ctx.db.query('INSERT INTO console_sessions (id_hash, operator_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)', [
    hashSecret(sessionId),
    op.id,
    now,
    expiresAt,
  ]);
  await audit(ctx.db, { at: now, actor: `operator:${op.name}`, action: 'console.signed_in', subject: `operator:${op.id}`, details: {} });
  return { sessionId, info: infoFor(ctx, op.name, sessionId, now, expiresAt) };
}

function infoFor(ctx: Ctx, operator: string, sessionId: string, now: Date, expiresAt: Date): SessionInfo {
  const idle = new Date(Math.min(expiresAt.getTime(), now.getTime() + ctx.config.consoleSessionIdleSeconds * 1000));
  return { operator, csrfToken: csrfTokenFor(sessionId), expiresAt, idleExpiresAt: idle };
}

/**
 * A live session's operator, with its idle timer restarted; the check and
 * the touch are one statement, so two processes cannot both extend a
 * session that had just ended.
 */
async function touchSession(ctx: Ctx, sessionId: string): Promise<{ op: { id: string; name: string }; expiresAt: Date }> {
  const now = ctx.clock.now();
  const r = await ctx.db.query<{ id: string; name: string; expires_at: Date }>(
    `UPDATE console_sessions s SET last_seen_at = $2
     FROM operator_tokens o
     WHERE s.id_hash = $1 AND o.id = s.operator_id AND o.revoked_at IS NULL
       AND s.ended_at IS NULL AND s.expires_at > $2 AND s.last_seen_at > $2::timestamptz - make_interval(secs => $3)
     RETURNING o.id, o.name, s.expires_at`,
    [hashSecret(sessionId), now, ctx.config.consoleSessionIdleSeconds],
  );
  const row = r.rows[0];
  if (!row) {
    throw new DammError(
      'session_expired',
      `Your console session has ended: you signed out, it was idle for more than ${Math.round(ctx.config.consoleSessionIdleSeconds / 60)} minute(s), it reached its ${Math.round(ctx.config.consoleSessionMaxSeconds / 3600)}-hour limit, or its operator token was revoked. Sign in again.`,
    );
  }
  return { op: { id: row.id, name: row.name }, expiresAt: row.expires_at };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Who is calling an operator route: the bearer token (CLI) or a console session (cookie, plus CSRF header and origin for changes). */
export async function authenticateOperatorRequest(ctx: Ctx, request: FastifyRequest): Promise<Operator> {
  if (request.headers.authorization !== undefined) return { ...(await authenticateOperator(ctx.db, request.headers.authorization)), via: 'token' };
  const sessionId = sessionIdFromCookies(request.headers.cookie);
  if (!sessionId) throw new DammError('unauthorized', 'This call needs an operator token (Authorization: Bearer do_…) or a signed-in console session.');
  if (!SAFE_METHODS.has(request.method)) checkCsrf(ctx, request, sessionId);
  const { op } = await touchSession(ctx, sessionId);
  return { ...op, via: 'console' };
}

function checkCsrf(ctx: Ctx, request: FastifyRequest, sessionId: string): void {
  if (!sameOrigin(ctx, request)) {
    throw new DammError('csrf_refused', `Refused: a change made with a console session must come from this service's console page (origin ${expectedOrigin(ctx, request)}).`);
  }
  const given = request.headers[CSRF_HEADER];
  const want = Buffer.from(csrfTokenFor(sessionId));
  if (typeof given !== 'string' || given.length !== want.length || !timingSafeEqual(Buffer.from(given), want)) {
    throw new DammError('csrf_refused', 'Refused: this change did not carry the console session\'s CSRF token (X-DAMM-CSRF). Reload the console and try again.');
  }
}

/** The signed-in session's details for the page (its CSRF token included): GET /v1/console/session. */
export async function currentSession(ctx: Ctx, request: FastifyRequest): Promise<SessionInfo> {
  const sessionId = sessionIdFromCookies(request.headers.cookie);
  if (!sessionId) throw new DammError('unauthorized', 'Not signed in to the console.');
  const { op, expiresAt } = await touchSession(ctx, sessionId);
  return infoFor(ctx, op.name, sessionId, ctx.clock.now(), expiresAt);
}

/** Sign-out: checked like any other change (origin and CSRF), then the session ends for every process at once. */
export async function signOut(ctx: Ctx, request: FastifyRequest): Promise<void> {
  const sessionId = sessionIdFromCookies(request.headers.cookie);
  if (!sessionId) return;
  const op = await authenticateOperatorRequest(ctx, request);
  const now = ctx.clock.now();
  await ctx.db.query('UPDATE console_sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL', [hashSecret(sessionId), now]);
  await audit(ctx.db, { at: now, actor: `operator:${op.name}`, action: 'console.signed_out', subject: `operator:${op.id}`, details: {} });
}

/** Drops sessions that ended or expired more than a day ago (housekeeping). */
export async function pruneSessions(q: Queryable, now: Date): Promise<number> {
  const r = await q.query('DELETE FROM console_sessions WHERE expires_at < $1 OR ended_at < $1', [new Date(now.getTime() - 86400_000)]);
  return r.rowCount ?? 0;
}
