/**
 * The gateway change feed as a control-plane extension: admission records
 * signed inside device-changing transactions, the sequencer and LISTEN
 * connection, record renewal, and the gateway feed/snapshot/heartbeat routes.
 */
import type { ControlPlaneExtension } from './extensions.js';
import type { Ctx } from './context.js';
import { FeedService, type FeedServiceOptions } from './services/feed.js';
import { AdmissionIssuer, type AdmissionOptions } from './services/admissions.js';
import { gatewayFeedRoutes } from './routes/gateway-feed.js';
import { TrustedKeyRing } from './trust/keyring.js';

export interface FeedExtensionOptions {
  feed?: FeedServiceOptions;
  admission?: AdmissionOptions;
}

export interface FeedExtension extends ControlPlaneExtension {
  /** The running parts for a control plane's ctx (tests drive renewal and pruning through these). */
  parts(ctx: Ctx): { feed: FeedService; issuer: AdmissionIssuer };
}

export function feedExtension(opts: FeedExtensionOptions = {}): FeedExtension {
  const byCtx = new WeakMap<Ctx, { feed: FeedService; issuer: AdmissionIssuer }>();
  const parts = (ctx: Ctx) => {
    let p = byCtx.get(ctx);
    if (!p) {
      const feed = new FeedService(ctx, opts.feed);
      p = { feed, issuer: new AdmissionIssuer(ctx, feed, opts.admission) };
      byCtx.set(ctx, p);
    }
    return p;
  };
  return {
    name: 'gateway-feed',
    parts,
    deviceListener: (ctx) => parts(ctx).issuer.listener(),
    register: async (app, ctx) => {
      await app.register(gatewayFeedRoutes(ctx, parts(ctx).feed), { prefix: '/v1/gateways' });
    },
    start: async (ctx) => {
      const { feed, issuer } = parts(ctx);
      await feed.start();
      issuer.start();
      // A root that dropped an admission key this process signed with (revoked,
      // lost): live records re-issued under the new key at once, not at renewal.
      const unsubscribe =
        ctx.keys instanceof TrustedKeyRing
          ? ctx.keys.onChange(async (change) => {
              const dropped = change.droppedSigners.filter((k) => k.role === 'admission');
              if (dropped.length === 0) return;
              await issuer.reissueAll(`root v${change.version} dropped admission key(s) ${dropped.map((k) => k.keyid.slice(0, 16)).join(', ')}`);
            })
          : () => true;
      return async () => {
        unsubscribe();
        await issuer.stop();
        await feed.stop();
      };
    },
  };
}
