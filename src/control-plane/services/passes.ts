/**
 * Install passes (single use, short-lived: "public" when an anonymous visitor
 * mints one, "operator" when an operator issues one) and invites (operator
 * issued, a tier, an expiry and a number of uses). All are bearer secrets
 * stored only as hashes, and all are accepted by the same enroll call.
 */
import { randomUUID } from 'node:crypto';
import { DammError } from '../../core/errors.js';
import { withTx, type Queryable } from '../../store/db.js';
import { audit } from '../../store/audit.js';
import { countHits, recordHit, takeToken } from '../../store/rate-limit.js';
import { clientNetwork } from '../../core/client-network.js';
import { hashSecret, newSecret } from '../secrets.js';
import type { Ctx } from '../context.js';

const HOUR = 3600;
const GLOBAL = 'mint:global';

export type PassKind = 'public' | 'operator' | 'invite';

export interface MintedPass {
  id: string;
  token: string;
  kind: PassKind;
  tier: string;
  uses: number;
  expiresAt: Date;
}

/**
 * Public minting by an anonymous visitor, limited per client network (an
 * IPv4 address or an IPv6 prefix) over any rolling hour, across all processes.
 */
export async function mintPublicPass(ctx: Ctx, clientIp: string): Promise<MintedPass> {
  if (!ctx.config.publicMinting) {
    throw new DammError('public_minting_disabled', 'This DAMM service is invite-only: ask its operator for an invite link.');
  }
  const now = ctx.clock.now();
  const network = clientNetwork(clientIp, ctx.config.mintLimitIpv6Prefix);
  return withTx(ctx.db, async (tx) => {
    // When the whole service is minting unusually fast, each client gets a third
    // of its usual allowance until the surge passes (memo forecast 6).
    const surge = (await countHits(tx, GLOBAL, HOUR, now)) >= ctx.config.mintSurgePerHour;
    const perClient = surge ? Math.max(1, Math.floor(ctx.config.mintLimitPerHour / 3)) : ctx.config.mintLimitPerHour;
    const slot = await takeToken(tx, `mint:net:${network}`, perClient, HOUR, now);
    if (!slot.allowed) {
      const { retryAfterSeconds } = slot;
      throw new DammError('rate_limited', `Too many install passes from your network in the last hour${surge ? ' (the service is busy, so limits are tighter)' : ''}. Try again in ${Math.ceil(retryAfterSeconds / 60)} minute(s).`, {
        details: { retryAfterSeconds },
      });
    }
    // Only whether the surge threshold is reached matters, so the newest that many hits are kept.
    await recordHit(tx, GLOBAL, ctx.config.mintSurgePerHour, HOUR, now);
    const pass = await insertPass(tx, ctx, {
      kind: 'public',
      tier: ctx.config.publicTier,
      uses: 1,
      ttlSeconds: ctx.config.passTtlSeconds,
      actor: 'public',
      note: null,
    });
    ctx.metrics.passesMinted.inc({ kind: 'public' });
    return pass;
  });
}

export async function issuePass(
  ctx: Ctx,
  actor: string,
  req: { kind: 'operator' | 'invite'; tier?: string; uses?: number; expiresInSeconds?: number; note?: string },
): Promise<MintedPass> {
  const tier = req.tier ?? (req.kind === 'invite' ? ctx.config.defaultInviteTier : ctx.config.publicTier);
  if (!ctx.config.serviceTiers[tier]) {
    throw new DammError('invalid_argument', `Unknown tier "${tier}". Known tiers: ${Object.keys(ctx.config.serviceTiers).join(', ')}.`);
  }
  const ttl = req.expiresInSeconds ?? (req.kind === 'invite' ? ctx.config.inviteTtlSeconds : ctx.config.passTtlSeconds);
  return withTx(ctx.db, async (tx) => {
    const pass = await insertPass(tx, ctx, { kind: req.kind, tier, uses: req.uses ?? 1, ttlSeconds: ttl, actor, note: req.note ?? null });
    ctx.metrics.passesMinted.inc({ kind: req.kind });
    return pass;
  });
}

async function insertPass(
  q: Queryable,
  ctx: Ctx,
  p: { kind: PassKind; tier: string; uses: number; ttlSeconds: number; actor: string; note: string | null },
): Promise<MintedPass> {
  const now = ctx.clock.now();
  const id = randomUUID();
  const token = newSecret('dp');
  const expiresAt = new Date(now.getTime() + p.ttlSeconds * 1000);
  await q.query(
    `INSERT INTO install_passes (id, token_hash, kind, tier, max_uses, uses_left, expires_at, created_at, created_by, note)
     VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)`,
    [id, hashSecret(token), p.kind, p.tier, p.uses, expiresAt, now, p.actor, p.note],
  );
  await audit(q, {
    at: now,
    actor: p.actor,
    action: p.kind === 'invite' ? 'invite.issued' : 'pass.minted',
    subject: `pass:${id}`,
    details: { tier: p.tier, uses: p.uses, expiresAt: expiresAt.toISOString() },
  });
  return { id, token, kind: p.kind, tier: p.tier, uses: p.uses, expiresAt };
}

export interface ConsumedPass {
  id: string;
  kind: PassKind;
  tier: string;
}

/**
 * Takes one use of a pass inside the caller's transaction. The row lock held
 * until commit makes concurrent consumers of a single-use pass serialise:
 * exactly one succeeds.
 */
export async function consumePass(q: Queryable, token: string, now: Date): Promise<ConsumedPass> {
  const hash = hashSecret(token);
  const r = await q.query<ConsumedPass>(
    `UPDATE install_passes SET uses_left = uses_left - 1
     WHERE token_hash = $1 AND uses_left > 0 AND expires_at > $2 AND revoked_at IS NULL
     RETURNING id, kind, tier`,
    [hash, now],
  );
  if (r.rows[0]) return r.rows[0];
  const why = await q.query<{ uses_left: number; expires_at: Date; revoked_at: Date | null; kind: string }>(
    'SELECT uses_left, expires_at, revoked_at, kind FROM install_passes WHERE token_hash = $1',
    [hash],
  );
  const row = why.rows[0];
  const what = row?.kind === 'invite' ? 'invite' : 'install pass';
  if (!row || row.revoked_at) throw new DammError('invalid_pass', 'That install pass or invite is not valid. Start again from the link you were given.');
  if (row.uses_left <= 0) throw new DammError('pass_used', `This ${what} has already been used up. ${row.kind === 'invite' ? 'Ask for a new invite.' : 'Get a new one and try again.'}`);
  throw new DammError('pass_expired', `This ${what} expired at ${row.expires_at.toISOString()}. ${row.kind === 'invite' ? 'Ask for a new invite.' : 'Get a new one and try again.'}`);
}

export async function listPasses(q: Queryable, now: Date, limit: number) {
  const r = await q.query<{
    id: string; kind: PassKind; tier: string; max_uses: number; uses_left: number;
    expires_at: Date; created_at: Date; created_by: string; note: string | null; revoked_at: Date | null;
  }>('SELECT id, kind, tier, max_uses, uses_left, expires_at, created_at, created_by, note, revoked_at FROM install_passes ORDER BY created_at DESC LIMIT $1', [limit]);
  return r.rows.map((p) => ({
    id: p.id,
    kind: p.kind,
    tier: p.tier,
    maxUses: p.max_uses,
    usesLeft: p.uses_left,
    expiresAt: p.expires_at.toISOString(),
    createdAt: p.created_at.toISOString(),
    createdBy: p.created_by,
    note: p.note,
    state: (p.revoked_at ? 'revoked' : p.uses_left <= 0 ? 'used' : p.expires_at <= now ? 'expired' : 'usable') as 'revoked' | 'used' | 'expired' | 'usable',
  }));
}

/** Revokes a pass or invite: its link stops working at once; devices already enrolled with it stay. */
export async function revokePass(ctx: Ctx, actor: string, id: string): Promise<void> {
  const now = ctx.clock.now();
  await withTx(ctx.db, async (tx) => {
    const r = await tx.query<{ kind: PassKind; revoked_at: Date | null }>('SELECT kind, revoked_at FROM install_passes WHERE id = $1 FOR UPDATE', [id]);
    const p = r.rows[0];
    if (!p) throw new DammError('not_found', `No pass or invite ${id}.`);
    if (p.revoked_at) throw new DammError('conflict', `That ${p.kind === 'invite' ? 'invite' : 'pass'} is already revoked.`);
    await tx.query('UPDATE install_passes SET revoked_at = $2 WHERE id = $1', [id, now]);
    await audit(tx, { at: now, actor, action: p.kind === 'invite' ? 'invite.revoked' : 'pass.revoked', subject: `pass:${id}`, details: {} });
  });
}
