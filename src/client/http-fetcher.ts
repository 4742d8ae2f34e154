/**
 * A TrustFetcher over a control plane's public HTTP API, for Node clients
 * (the CLI, tests, gateways), spoken through the one Node client (./http.ts):
 *
 *   GET /v1/trust/root/{n}.json   a root version; 404 is the end of the chain
 *   GET /v1/catalog               the current signed catalog
 *
 * It only moves bytes: everything it returns is verified by TrustClient. Its
 * failures are plain Errors saying what could not be fetched from where, not
 * DammErrors: a caller reports a verification refusal (a DammError) and a
 * transport failure differently.
 */
import type { TrustFetcher } from './trust-client.js';
import { DammError } from '../core/errors.js';
import { HttpClient, Unreachable } from './http.js';

const TIMEOUT_MS = 15_000;

/** GET `path` from `base`; null for a 404 when `notFoundIsNull`. Each call opens and closes its own connection. */
async function get(base: string, path: string, what: string, notFoundIsNull: boolean): Promise<unknown> {
  const client = new HttpClient(base, { timeoutMs: TIMEOUT_MS });
  const url = new URL(path.replace(/^\//, ''), client.base).href;
  try {
    return await client.call('GET', path);
  } catch (cause) {
    if (cause instanceof Unreachable && cause.status === null) {
      throw new Error(`${what}: cannot reach ${url}${cause.timedOut ? ` (no answer in ${TIMEOUT_MS / 1000} s)` : ''}`, { cause });
    }
    const status = cause instanceof DammError ? cause.details?.['status'] : undefined;
    if (status === 404 && notFoundIsNull) return null;
    if (typeof status === 'number' && (status < 200 || status >= 300)) throw new Error(`${what}: HTTP ${status}`, { cause });
    if (cause instanceof DammError) throw new Error(`${what}: ${cause.message}`, { cause }); // a 2xx that is not JSON, or too large
    throw cause;
  } finally {
    client.close();
  }
}

/** `baseUrl` is the control plane's URL (a trailing slash is ignored), or a function giving it at call time. */
export function httpTrustFetcher(baseUrl: string | (() => string)): TrustFetcher {
  const base = () => (typeof baseUrl === 'function' ? baseUrl() : baseUrl);
  return {
    fetchRoot: (version) => get(base(), `/v1/trust/root/${version}.json`, `root ${version}`, true),
    fetchCatalog: () => get(base(), '/v1/catalog', 'catalog', false),
  };
}
