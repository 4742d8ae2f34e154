/**
 * "Test my connection": asks whoami whether this page's traffic arrives from
 * a DAMM gateway, measures the round trip, and turns the answer into plain
 * words with what to try next.
 */
import type { Whoami } from '../core/api-schemas.js';
import { api, ApiError, NetworkError } from './api.js';
import { countryName } from './format.js';

export interface TestResult {
  verdict: 'through-damm' | 'not-through-damm' | 'unreachable';
  headline: string;
  details: string[];
  next: string[];
  rttMs: number | null;
  whoami: Whoami | null;
}

export interface TestContext {
  deviceId: string;
  tunnel: string;
  udpPort: string;
  /** True when the service lists an obfuscated (T1) front door that is online. */
  t1Available: boolean;
}

/** Three quick calls; the fastest is the round trip (the first may pay for a new connection). */
export async function testConnection(ctx: TestContext): Promise<TestResult> {
  let best = Infinity;
  let last: Whoami | null = null;
  try {
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      last = await api.whoami(ctx.deviceId);
      best = Math.min(best, performance.now() - t0);
    }
  } catch (err) {
    if (err instanceof NetworkError) return unreachable(ctx);
    if (err instanceof ApiError) return { ...unreachable(ctx), headline: `The service could not run the test (${err.code}). Try again in a moment.` };
    throw err;
  }
  const w = last!;
  const rttMs = Math.round(best);
  if (w.viaDamm && w.exit) {
    const details = [
      `Exit: ${countryName(w.exit.country)}${w.gateway ? `, through gateway ${w.gateway.name} (${w.gateway.region})` : ''}.`,
      `Websites see you at ${w.exit.ip}.`,
      `Round trip to DAMM: ${rttMs} ms.`,
    ];
    const next: string[] = [];
    if (w.device && w.device.state !== 'active') {
      next.push(`This device is ${w.device.state}${w.device.stateReason ? `: ${w.device.stateReason}` : ''}. Its tunnel will stop working; ask the people who run this service.`);
    } else if (w.device && !w.device.onThisGateway) {
      next.push('This traffic came through a DAMM gateway other than the one this device was given: another DAMM tunnel may be switched on instead of "' + ctx.tunnel + '".');
    }
    return { verdict: 'through-damm', headline: 'Yes: your traffic arrives through DAMM.', details, next, rttMs, whoami: w };
  }
  return {
    verdict: 'not-through-damm',
    headline: 'Not yet: your traffic is not going through DAMM.',
    details: [`DAMM sees you at ${w.ip}, which is not a DAMM gateway.`, `Round trip to DAMM: ${rttMs} ms.`],
    next: [
      `Most likely the tunnel is not switched on: open WireGuard, switch on "${ctx.tunnel}", then test again.`,
      `If it is on and this still says no, this network may block WireGuard's UDP traffic (port ${ctx.udpPort}). Try another network, such as mobile data instead of Wi-Fi.`,
      ctx.t1Available
        ? 'This service also runs obfuscated (T1) front doors, which get through many such networks: ask the people who run it for a T1 connection.'
        : 'An obfuscated (T1) front door gets through many such networks; this service does not offer one yet.',
    ],
    rttMs,
    whoami: w,
  };
}

function unreachable(ctx: TestContext): TestResult {
  return {
    verdict: 'unreachable',
    headline: 'The test could not reach DAMM at all.',
    details: [],
    next: [
      `If "${ctx.tunnel}" is switched on, it is not passing traffic: this network may block WireGuard's UDP traffic (port ${ctx.udpPort}). Switch the tunnel off to get back online, then try another network, such as mobile data.`,
      'If the tunnel is off, check that you are online and test again.',
    ],
    rttMs: null,
    whoami: null,
  };
}
