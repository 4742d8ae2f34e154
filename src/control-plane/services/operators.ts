import { randomUUID } from 'node:crypto';
import { DammError } from '../../core/errors.js';
import type { Queryable } from '../../store/db.js';
import { audit } from '../../store/audit.js';
import { hashSecret, newSecret } from '../secrets.js';

export async function createOperatorToken(q: Queryable, name: string, now: Date): Promise<{ id: string; token: string }> {
  const id = randomUUID();
  const token = newSecret('do');
  await q.query('INSERT INTO operator_tokens (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)', [id, name, hashSecret(token), now]);
  await audit(q, { at: now, actor: 'cli', action: 'operator.token_created', subject: `operator:${id}`, details: { name } });
  return { id, token };
}

export const OPERATOR_TOKEN_PATTERN = /^do_[A-Za-z0-9_-]{22,64}$/;

export async function authenticateOperator(q: Queryable, header: string | undefined): Promise<{ id: string; name: string }> {
  const m = /^Bearer (\S+)$/.exec(header ?? '');
  if (!m || !OPERATOR_TOKEN_PATTERN.test(m[1]!)) throw new DammError('unauthorized', 'This call needs an operator token (Authorization: Bearer do_…).');
  const op = await operatorByToken(q, m[1]!);
  if (!op) throw new DammError('unauthorized', 'Unknown or revoked operator token.');
  return op;
}

/** The operator a token belongs to, or null when it is unknown or revoked (the one lookup the CLI's bearer and the console's sign-in share). */
export async function operatorByToken(q: Queryable, token: string): Promise<{ id: string; name: string } | null> {
  if (!OPERATOR_TOKEN_PATTERN.test(token)) return null;
  const r = await q.query<{ id: string; name: string }>('SELECT id, name FROM operator_tokens WHERE token_hash = $1 AND revoked_at IS NULL', [hashSecret(token)]);
  return r.rows[0] ?? null;
}
