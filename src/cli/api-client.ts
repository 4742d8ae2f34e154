/**
 * The operator side of the CLI speaks to a running control plane over its
 * HTTP API. URL and token come from flags, the environment, or the files
 * `damm serve` and `damm init` leave in the data directory (mode 0600).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DammError } from '../core/errors.js';

export interface ApiTarget {
  url: string;
  token: string;
}

export async function resolveTarget(opts: { url?: string; token?: string; dataDir: string }): Promise<ApiTarget> {
  const url = opts.url ?? process.env.DAMM_URL ?? (await readFile(path.join(opts.dataDir, 'url'), 'utf8').catch(() => '')).trim();
  if (!url) throw new DammError('invalid_argument', 'No control plane URL: pass --url, set DAMM_URL, or run this on the host where "damm serve" runs.');
  const token = opts.token ?? process.env.DAMM_OPERATOR_TOKEN ?? (await readFile(path.join(opts.dataDir, 'operator-token'), 'utf8').catch(() => '')).trim();
  if (!token) throw new DammError('unauthorized', 'No operator token: pass --token, set DAMM_OPERATOR_TOKEN, or run "damm init" on the control-plane host.');
  return { url: url.replace(/\/$/, ''), token };
}

/** One call with the operator token; each call opens and closes its own connection (a CLI run makes a few). */
export async function api<T>(target: ApiTarget, method: string, p: string, body?: unknown): Promise<T> {
  // Loaded on the first call, not with the command tree (src/cli/main.ts: `damm --help` loads no client code).
  const { HttpClient, Unreachable } = await import('../client/http.js');
  const client = new HttpClient(target.url);
  try {
    return await client.call<T>(method, p, { token: target.token, ...(body !== undefined ? { body } : {}) });
  } catch (err) {
    if (err instanceof Unreachable && err.status === null) {
      throw new DammError('store_unavailable', `Cannot reach the control plane at ${target.url}. Is "damm serve" running?`, { cause: err });
    }
    throw err;
  } finally {
    client.close();
  }
}
