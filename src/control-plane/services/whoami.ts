/**
 * whoami: what the control plane sees of the caller. A request arriving from
 * a registered gateway's egress address came through DAMM. Which device it
 * was cannot be seen through the gateway's NAT, so the caller may name its
 * device id; we confirm only that the device exists and is placed on that
 * gateway's scope (documented as a consistency check, not proof).
 */
import type { Whoami } from '../../core/api-schemas.js';
import { gatewayByEgressIp, scopeOf } from './gateways.js';
import { getDevice } from './devices.js';
import type { Ctx } from '../context.js';

export type UsageReader = (ctx: Ctx, deviceId: string) => Promise<{ periodStart: string; bytes: number; quotaBytes: number | null } | null>;

export async function whoami(ctx: Ctx, ip: string, deviceId: string | undefined, usage?: UsageReader): Promise<Whoami> {
  const now = ctx.clock.now();
  const gw = await gatewayByEgressIp(ctx.db, ip);
  let device: Whoami['device'] = null;
  if (deviceId) {
    const d = await getDevice(ctx.db, deviceId);
    if (d) {
      device = {
        id: d.id,
        state: d.state,
        stateReason: d.state_reason,
        onThisGateway: !!gw && d.scope === scopeOf(gw.region) && d.state === 'active',
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
