/**
 * whoami: what the control plane sees of the caller. A request arriving from
 * a registered gateway's egress address came through DAMM. Which device it
 * was cannot be seen through the gateway's NAT, so the caller may name its
 * device id; we confirm only that the device exists and is placed on that
 * gateway's scope (documented as a consistency check, not proof).
 *
 * Named devices also hear about the gateway their config points at: when an
 * operator removed it with no replacement, the answer says in words that the
 * config no longer leads anywhere and what to do (memo forecast 9: say it,
 * never leave a person retrying a dead tunnel).
 */
import type { Whoami } from '../../core/api-schemas.js';
import { gatewayByEgressIp, getGateway, scopeOf, type GatewayRow } from './gateways.js';
import { getDevice } from './devices.js';
import type { Ctx, DeviceRow } from '../context.js';

export type UsageReader = (ctx: Ctx, deviceId: string) => Promise<{ periodStart: string; bytes: number; quotaBytes: number | null } | null>;

type PlacedOn = NonNullable<NonNullable<Whoami['device']>['placedOn']>;

function placedOn(g: GatewayRow): PlacedOn {
  return { gatewayId: g.id, name: g.name, status: g.removed_at ? 'removed' : g.drained_at ? 'drained' : 'active' };
}

/** The sentence a person reads about their device's config, or null when nothing is wrong with it. */
export function deviceNotice(d: Pick<DeviceRow, 'state'>, g: GatewayRow | null): string | null {
  if (d.state !== 'active' || !g?.removed_at) return null;
  return `The gateway this device's configuration points at (${g.name}, region ${g.region}) was shut down for good on ${g.removed_at.toISOString().slice(0, 10)}, `
    + 'and nothing took its place: this configuration no longer leads anywhere and will not start working again. '
    + 'Get a new configuration (open your invite link again, or ask whoever invited you for a new one), import it, and delete the old tunnel from your WireGuard app.';
}

export async function whoami(ctx: Ctx, ip: string, deviceId: string | undefined, usage?: UsageReader): Promise<Whoami> {
  const now = ctx.clock.now();
  const gw = await gatewayByEgressIp(ctx.db, ip);
  let device: Whoami['device'] = null;
  if (deviceId) {
    const d = await getDevice(ctx.db, deviceId);
    if (d) {
      const home = d.gateway_id ? await getGateway(ctx.db, d.gateway_id) : null;
      device = {
        id: d.id,
        state: d.state,
        stateReason: d.state_reason,
        onThisGateway: !!gw && d.scope === scopeOf(gw.region) && d.state === 'active',
        placedOn: home ? placedOn(home) : null,
        notice: deviceNotice(d, home),
        usage: usage ? await usage(ctx, d.id) : null,
      };
    }
  }
  return {
    ip,
    viaDamm: !!gw,
    gateway: gw ? { id: gw.id, name: gw.name, region: gw.region, country: gw.country } : null,
    exit: gw ? { ip, country: gw.country } : null,
    device,
    serverTime: now.toISOString(),
  };
}
