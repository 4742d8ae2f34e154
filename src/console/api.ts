/**
 * The operator API as the console uses it: same origin, the session cookie
 * (HttpOnly: this page never sees it), and for every change the session's
 * CSRF token in X-DAMM-CSRF. The token an operator signs in with goes out
 * once, in the body of the sign-in call, and is not kept anywhere.
 */
import { decodeApiError } from '../core/api-error.js';
import type { ConsoleSession } from '../core/api-schemas.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
  ) {
    super(message);
  }
}

const TIMEOUT_MS = 15_000;
let csrf: string | null = null;
/** Called when the session is gone (expired, signed out elsewhere, token revoked): the page goes back to sign-in. */
let onSignedOut: (message: string) => void = () => {};

export function whenSignedOut(fn: (message: string) => void): void {
  onSignedOut = fn;
}

/** API paths relative to the page (/console/ → /v1/), so a deployment under a path prefix works too. */
function apiUrl(path: string): string {
  return new URL(`../v1/${path}`, document.baseURI).href;
}

async function call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-damm-csrf'] = csrf;
  let res: Response;
  try {
    res = await fetch(apiUrl(path), {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
      signal: abort.signal,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'unreachable', abort.signal.aborted ? 'The control plane did not answer in time. Try again.' : 'The control plane cannot be reached. Check your connection and try again.', null);
  } finally {
    clearTimeout(timer);
  }
  if (res.status === 204) return undefined as T;
  let parsed: unknown = null;
  try {
    parsed = await res.json();
  } catch {
    // not JSON (a proxy's error page): decoded by status below
  }
  if (res.ok && parsed !== null) return parsed as T;
  const e = decodeApiError({ status: res.status, body: parsed, retryAfter: res.headers.get('retry-after'), requestId: res.headers.get('x-request-id') });
  const err = new ApiError(res.status, e.code, e.message, e.requestId);
  if (res.status === 401 && path !== 'console/session') {
    csrf = null;
    onSignedOut(e.message);
  }
  throw err;
}

export const api = {
  async signIn(token: string): Promise<ConsoleSession> {
    const s = await call<ConsoleSession>('POST', 'console/session', { token });
    csrf = s.csrfToken;
    return s;
  },
  /** The current session, if the cookie still holds one. */
  async session(): Promise<ConsoleSession | null> {
    try {
      const s = await call<ConsoleSession>('GET', 'console/session');
      csrf = s.csrfToken;
      return s;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return null;
      throw err;
    }
  },
  async signOut(): Promise<void> {
    await call<void>('DELETE', 'console/session');
    csrf = null;
  },
  get: <T>(path: string) => call<T>('GET', `operator/${path}`),
  post: <T>(path: string, body?: unknown) => call<T>('POST', `operator/${path}`, body),
};
