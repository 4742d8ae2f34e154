/**
 * Keeps a running control plane in step with the published roots, with no
 * restart: every few seconds it reloads the key ring when a new root was
 * published, and makes sure the served catalog carries a signature from
 * every key this process currently signs with (so right after a rotation the
 * catalog is re-signed by the new key, under a new version).
 *
 * The "re-sign only if one of MY current signers is missing" rule is stable
 * with several processes: a process that lacks a new key (not yet reloaded,
 * or a host without the key file) never undoes a catalog that carries more
 * signatures than it could make.
 */
import type { Envelope } from '../../core/envelope.js';
import type { Ctx } from '../context.js';
import { currentCatalog } from '../services/catalog.js';
import { DAY } from './init.js';
import type { TrustedKeyRing } from './keyring.js';
import { markCatalogForResign } from './roots.js';

export interface TrustTick {
  reloaded: boolean;
  rootVersion: number;
  catalogResigned: boolean;
}

/** Re-signs the catalog when one of this process's current catalog signers is missing from it. Returns whether it did. */
export async function ensureCatalogSigners(ctx: Ctx, reason: string): Promise<boolean> {
  const r = await ctx.db.query<{ version: string; envelope: Envelope }>('SELECT version, envelope FROM catalog_state WHERE id = 1');
  const row = r.rows[0];
  if (!row || Number(row.version) === 0) return false; // nothing signed yet; the first request signs with current keys
  const present = new Set((row.envelope?.signatures ?? []).map((s) => s.keyid));
  const mine = ctx.keys.signers('catalog');
  if (mine.length === 0 || mine.every((k) => present.has(k.keyid))) return false;
  await markCatalogForResign(ctx.db, reason);
  const c = await currentCatalog(ctx);
  ctx.log.info({ component: 'trust', catalogVersion: c.version, reason }, 'catalog re-signed with the current catalog keys');
  return true;
}

export async function trustTick(ctx: Ctx, ring: TrustedKeyRing, opts: { force?: boolean } = {}): Promise<TrustTick> {
  let reloaded = false;
  try {
    const res = await ring.reload(opts);
    if (res.changed) {
      reloaded = true;
      ctx.log.info({ component: 'trust', rootVersion: res.version, rotatedRoles: res.rotatedRoles, signing: { catalog: ring.signers('catalog').map((k) => k.keyid.slice(0, 16)), admission: ring.signers('admission').map((k) => k.keyid.slice(0, 16)) } }, 'new root loaded');
      for (const role of ['catalog', 'admission'] as const) {
        if (ring.signers(role).length === 0) ctx.log.error({ component: 'trust', role, rootVersion: res.version }, `no ${role} key of this host is certified by the new root; copy the new key file to this host`);
      }
      for (const err of await ring.emitChange(res)) ctx.log.error({ component: 'trust', err }, 'a trust-change listener failed');
    }
  } catch (err) {
    ctx.log.error({ component: 'trust', err }, 'could not load the published roots; keeping the current ones');
  }
  const catalogResigned = await ensureCatalogSigners(ctx, `root-${ring.root.version}`);
  return { reloaded, rootVersion: ring.root.version, catalogResigned };
}

/** Runs trustTick every intervalMs (first run at once) and warns daily about expiries within 30 days. Returns the stopper. */
export function startTrustMaintenance(ctx: Ctx, ring: TrustedKeyRing, opts: { intervalMs: number }): () => Promise<void> {
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  let lastWarn = 0;
  const tick = () => {
    if (stopped) return;
    running = trustTick(ctx, ring)
      .then(() => {
        const now = ctx.clock.now();
        if (now.getTime() - lastWarn < DAY * 1000) return;
        lastWarn = now.getTime();
        warnExpiries(ctx, ring, now);
      })
      .catch((err) => ctx.log.warn({ component: 'trust', err }, 'trust maintenance failed'));
  };
  tick();
  const timer = setInterval(tick, opts.intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running.catch(() => {});
  };
}

function warnExpiries(ctx: Ctx, ring: TrustedKeyRing, now: Date): void {
  const soon = now.getTime() + 30 * DAY * 1000;
  if (ring.root.expiresAt.getTime() < soon) {
    ctx.log.warn({ component: 'trust', rootVersion: ring.root.version, expiresAt: ring.root.document.expiresAt }, 'the root expires within 30 days: run "damm keys refresh --root-key ..."');
  }
  const d = ring.describe(now);
  for (const [role, keys] of Object.entries(d.roles)) {
    const live = keys.filter((k) => k.validNow);
    if (live.length > 0 && live.every((k) => k.notAfter !== undefined && new Date(k.notAfter).getTime() < soon)) {
      ctx.log.warn({ component: 'trust', role, notAfter: live.map((k) => k.notAfter) }, `every ${role} key expires within 30 days: run "damm keys rotate --role ${role} --root-key ..."`);
    }
  }
}
