/**
 * "Test my connection": asks whoami whether this page's traffic arrives from
 * a DAMM gateway, measures the round trip (testConnection), and turns the
 * answer into plain words with what to try next (describeTest, in the
 * page's language, so a language switch re-words a result already shown).
 */
import type { Whoami } from '../core/api-schemas.js';
import { api, ApiError, NetworkError } from './api.js';
import { countryName } from './format.js';
import { t } from './i18n.js';

export interface TestResult {
  verdict: 'through-damm' | 'not-through-damm' | 'unreachable';
  rttMs: number | null;
  whoami: Whoami | null;
  /** The service answered the test with an error code instead of a verdict. */
  serviceError: string | null;
}

export interface TestContext {
  deviceId: string;
  /** The door the person is looking at: its tunnel name, UDP port and app. */
  tunnel: string;
  udpPort: string;
  app: string;
  /** True when this device also has an AmneziaWG door and the person is looking at another one. */
  awgElsewhere: boolean;
  /** True when the door tested is itself obfuscated (AmneziaWG): no other door to suggest. */
  obfuscated: boolean;
  /** True when the service lists an obfuscated (T1) front door that is online. */
  t1Available: boolean;
}

export interface TestWords {
  headline: string;
  details: string[];
  next: string[];
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
    if (err instanceof NetworkError) return { verdict: 'unreachable', rttMs: null, whoami: null, serviceError: null };
    if (err instanceof ApiError) return { verdict: 'unreachable', rttMs: null, whoami: null, serviceError: err.code };
    throw err;
  }
  const w = last!;
  return { verdict: w.viaDamm && w.exit ? 'through-damm' : 'not-through-damm', rttMs: Math.round(best), whoami: w, serviceError: null };
}

export function describeTest(r: TestResult, ctx: TestContext): TestWords {
  const w = r.whoami;
  // The gateway this config names was removed with no replacement: nothing else on this page can help that tunnel.
  if (w?.device?.placedOn?.status === 'removed') {
    return { headline: t('test.gone'), details: [], next: [t('test.goneNext', { tunnel: ctx.tunnel })] };
  }
  if (r.verdict === 'through-damm' && w?.exit) {
    const country = countryName(w.exit.country);
    const details = [
      w.gateway ? t('test.exitVia', { country, gateway: w.gateway.name, region: w.gateway.region }) : t('test.exit', { country }),
      t('test.seenAt', { ip: w.exit.ip }),
      t('test.rtt', { ms: r.rttMs ?? 0 }),
    ];
    const next: string[] = [];
    if (w.device && w.device.state !== 'active') {
      next.push(w.device.stateReason ? t('test.deviceStateReason', { state: w.device.state, reason: w.device.stateReason }) : t('test.deviceState', { state: w.device.state }));
    } else if (w.device && !w.device.onThisGateway) {
      next.push(t('test.otherGateway', { tunnel: ctx.tunnel }));
    }
    return { headline: t('test.yes'), details, next };
  }
  if (r.verdict === 'not-through-damm' && w) {
    return {
      headline: t('test.no'),
      details: [t('test.seenDirect', { ip: w.ip }), t('test.rtt', { ms: r.rttMs ?? 0 })],
      next: [
        t('test.switchOn', { tunnel: ctx.tunnel, app: ctx.app }),
        t('test.udpBlocked', { port: ctx.udpPort }),
        ...(ctx.obfuscated ? [] : [t(ctx.awgElsewhere ? 'test.awgHere' : ctx.t1Available ? 'test.t1Offered' : 'test.t1Missing')]),
      ],
    };
  }
  return {
    headline: r.serviceError ? t('test.serviceFailed', { code: r.serviceError }) : t('test.unreachable'),
    details: [],
    next: [t('test.unreachableOn', { tunnel: ctx.tunnel, port: ctx.udpPort }), t('test.unreachableOff')],
  };
}
