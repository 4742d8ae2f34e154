/**
 * The control-plane API as this page uses it: same origin, no cookies, no
 * referrer, a timeout on every call, and two kinds of failure a person can
 * act on: the service said no (ApiError, with its stable code) or the
 * service could not be reached (NetworkError).
 */
import { decodeApiError } from '../core/api-error.js';
import type { EnrollRequest, EnrollResponse, MintPassResponse, Posture, Whoami } from '../core/api-schemas.js';

/** GET /v1/trust (only the field this page reads). */
export interface TrustIndex {
  rootV1Sha256: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds: number | null,
    readonly requestId: string | null,
  ) {
    super(message);
  }
}

export class NetworkError extends Error {}

const TIMEOUT_MS = 15_000;

/** API paths are relative to the page (/get/ → /v1/), so a deployment under a path prefix works too. */
function apiUrl(path: string): string {
  return new URL(`../v1/${path}`, document.baseURI).href;
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(apiUrl(path), {
      method,
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
      signal: abort.signal,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
  } catch {
    throw new NetworkError(abort.signal.aborted ? 'timeout' : 'unreachable');
  } finally {
    clearTimeout(timer);
  }
  let parsed: unknown = null;
  try {
    parsed = await res.json();
  } catch {
    // not JSON (e.g. a proxy's error page): handled below by status
  }
  if (res.ok && parsed !== null) return parsed as T;
  const e = decodeApiError({ status: res.status, body: parsed, retryAfter: res.headers.get('retry-after'), requestId: res.headers.get('x-request-id') });
  throw new ApiError(res.status, e.code, e.message, e.retryAfterSeconds, e.requestId);
}

export const api = {
  mintPass: () => call<MintPassResponse>('POST', 'install-passes'),
  enroll: (req: EnrollRequest) => call<EnrollResponse>('POST', 'enroll', req),
  whoami: (deviceId: string) => call<Whoami>('GET', `whoami?device=${encodeURIComponent(deviceId)}`),
  posture: () => call<Posture>('GET', 'posture'),
  catalog: () => call<unknown>('GET', 'catalog'),
  /** The service's own statement of which root v1 to pin: trust on first use, used only when the link carried no pin. */
  trust: () => call<TrustIndex>('GET', 'trust'),
  /** Root document `version`; ApiError 404 past the latest (the end of the chain). */
  root: (version: number) => call<unknown>('GET', `trust/root/${version}.json`),
  /** The latest root envelope (unverified: it is verified as the last link of the chain). */
  latestRoot: () => call<unknown>('GET', 'trust/root.json'),
};
