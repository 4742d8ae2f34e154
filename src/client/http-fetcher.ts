/**
 * A TrustFetcher over a control plane's public HTTP API, for Node clients
 * (the CLI, tests, gateways):
 *
 *   GET /v1/trust/root/{n}.json   a root version; 404 is the end of the chain
 *   GET /v1/catalog               the current signed catalog
 *
 * It only moves bytes: everything it returns is verified by TrustClient.
 */
import type { TrustFetcher } from './trust-state.js';

const TIMEOUT_MS = 15_000;

async function get(url: string, what: string): Promise<Response> {
  try {
    return await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), headers: { accept: 'application/json' } });
  } catch (cause) {
    const timedOut = (cause as Error)?.name === 'TimeoutError';
    throw new Error(`${what}: cannot reach ${url}${timedOut ? ` (no answer in ${TIMEOUT_MS / 1000} s)` : ''}`, { cause });
  }
}

async function json(res: Response, what: string): Promise<unknown> {
  try {
    return await res.json();
  } catch (cause) {
    throw new Error(`${what}: the answer is not JSON`, { cause });
  }
}

/** `baseUrl` is the control plane's URL (a trailing slash is ignored), or a function giving it at call time. */
export function httpTrustFetcher(baseUrl: string | (() => string)): TrustFetcher {
  const base = () => (typeof baseUrl === 'function' ? baseUrl() : baseUrl).replace(/\/+$/, '');
  return {
    async fetchRoot(version) {
      const what = `root ${version}`;
      const res = await get(`${base()}/v1/trust/root/${version}.json`, what);
      if (res.status === 404) return null;
      if (!res.ok) throw new Error(`${what}: HTTP ${res.status}`);
      return json(res, what);
    },
    async fetchCatalog() {
      const res = await get(`${base()}/v1/catalog`, 'catalog');
      if (!res.ok) throw new Error(`catalog: HTTP ${res.status}`);
      return json(res, 'catalog');
    },
  };
}
