/**
 * The trust status an operator reads: the published root, each online key
 * and its window, which key files this host holds, when the next rotation is
 * due, and warnings in words. `damm keys status` prints it and the console's
 * keys page shows it (GET /v1/operator/trust), so both say the same thing.
 * Read-only: rotation stays an offline act with the root keys (docs/trust.md).
 */
import type { TrustStatus } from '../../core/api-schemas.js';
import { DammError } from '../../core/errors.js';
import { ONLINE_ROLES, keyValidFor, roleKeys } from '../../core/trust/index.js';
import type { Queryable } from '../../store/db.js';
import { keysDir, readOnlineKeyFiles } from '../keyring.js';
import { getRoot, loadVerifiedChain } from './roots.js';

const DAY_MS = 86400_000;
/** Rotate (or refresh the root) this long before the end, so cached clients always overlap. */
export const ROTATE_AHEAD_DAYS = 30;

export async function trustStatus(db: Queryable, dataDir: string, now: Date): Promise<TrustStatus> {
  const root = await loadVerifiedChain(db);
  if (!root) throw new DammError('store_unavailable', 'No root is published in this store: run "damm init".');
  const v1 = (await getRoot(db, 1))!;
  const local = new Set((await readOnlineKeyFiles(dataDir)).map((f) => f.key.keyid));
  const ahead = ROTATE_AHEAD_DAYS * DAY_MS;
  const soon = now.getTime() + ahead;
  const warnings: string[] = [];
  if (root.expiresAt.getTime() <= now.getTime()) warnings.push(`root v${root.version} has EXPIRED: run "damm keys refresh --root-key ..."`);
  else if (root.expiresAt.getTime() < soon) warnings.push(`root v${root.version} expires ${root.document.expiresAt}: run "damm keys refresh --root-key ..." soon`);
  const roles = Object.fromEntries(
    ONLINE_ROLES.map((r) => {
      const keys = roleKeys(root, r).map((k) => ({
        keyid: k.keyid,
        notBefore: k.notBefore!.toISOString(),
        notAfter: k.notAfter!.toISOString(),
        validNow: keyValidFor(k, now),
        keyFileHere: local.has(k.keyid),
      }));
      const signing = keys.filter((k) => k.validNow && k.keyFileHere);
      const lastEnd = Math.max(...keys.filter((k) => k.validNow).map((k) => new Date(k.notAfter).getTime()));
      if (signing.length < root.document.roles[r].threshold) warnings.push(`no ${r} key valid now has its key file in ${keysDir(dataDir)}: this host cannot sign ${r === 'catalog' ? 'catalogs' : 'admission records'} (docs/runbooks.md)`);
      else if (signing.every((k) => new Date(k.notAfter).getTime() < soon)) warnings.push(`every ${r} key ends within ${ROTATE_AHEAD_DAYS} days: run "damm keys rotate --role ${r} --root-key ..."`);
      const rotationDueAt = Number.isFinite(lastEnd) ? new Date(lastEnd - ahead).toISOString() : null;
      return [r, { threshold: root.document.roles[r].threshold, keys, rotationDueAt }];
    }),
  ) as Pick<TrustStatus, 'catalog' | 'admission'>;
  return {
    rootVersion: root.version,
    rootIssuedAt: root.document.issuedAt,
    rootExpiresAt: root.document.expiresAt,
    rootRefreshDueAt: new Date(root.expiresAt.getTime() - ahead).toISOString(),
    rootV1Sha256: v1.payloadSha256,
    root: { threshold: root.document.roles.root.threshold, keyids: [...root.document.roles.root.keyids] },
    ...roles,
    warnings,
  };
}
