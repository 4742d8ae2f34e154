/**
 * The agent's only view of the control plane: its HTTP API. Every answer is
 * checked against its schema before use; the credential is sent as a bearer
 * token and never logged.
 */
import http from 'node:http';
import https from 'node:https';
import { Value } from '@sinclair/typebox/value';
import { Type, type TSchema, type Static } from '@sinclair/typebox';
import '../../core/formats.js';
import { RegisterGatewayResponse, type RegisterGatewayRequest } from '../../core/api-schemas.js';
import { FeedResponse, HeartbeatResponse, SnapshotResponse, type HeartbeatRequest } from '../../core/feed-api.js';
import { DammError, isErrorCode } from '../../core/errors.js';

/** Why a call failed in a way worth retrying (the control plane is down or slow) vs. an answer. */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

export class Unreachable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'Unreachable';
  }
}

export interface ControlPlaneApi {
  register(body: RegisterGatewayRequest): Promise<Static<typeof RegisterGatewayResponse>>;
  feed(after: number, waitSeconds: number, signal?: AbortSignal): Promise<Static<typeof FeedResponse>>;
  snapshot(signal?: AbortSignal): Promise<Static<typeof SnapshotResponse>>;
  heartbeat(body: HeartbeatRequest): Promise<Static<typeof HeartbeatResponse>>;
  /** GET /v1/trust/root/{n}.json: the root envelope (unverified: the caller verifies), or null past the end of the chain. */
  fetchRoot?(version: number): Promise<unknown | null>;
  close?(): void;
}

/**
 * Speaks node:http(s) with its own keep-alive agent rather than fetch, so
 * stopping the agent closes its connections for certain (an aborted fetch can
 * leave the global pool opening a fresh, request-less connection, which keeps
 * a control plane's graceful close waiting for its header timeout).
 */
export class HttpControlPlaneApi implements ControlPlaneApi {
  private readonly base: URL;
  private readonly agent: http.Agent;
  gatewayId: string | null = null;
  credential: string | null = null;

  constructor(baseUrl: string, private readonly timeoutMs = 15_000) {
    this.base = new URL(baseUrl.replace(/\/+$/, '') + '/');
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new DammError('invalid_argument', 'The control plane URL must be http:// or https://.');
    this.agent = this.base.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 4 }) : new http.Agent({ keepAlive: true, maxSockets: 4 });
  }

  /** Closes every connection; later calls fail as unreachable. */
  close(): void {
    this.agent.destroy();
  }

  private http(method: string, p: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    const url = new URL(p.replace(/^\//, ''), this.base);
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new Error('aborted'));
      const req = lib.request(url, { method, agent: this.agent, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('answer too large'));
          else chunks.push(c);
        });
        res.on('end', () => finish(null, { status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => finish(e));
      });
      const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      const onAbort = () => req.destroy(new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      let done = false;
      function finish(err: Error | null, value?: { status: number; text: string }): void {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value!);
      }
      req.on('error', (e) => finish(e));
      req.end(body);
    });
  }

  private async call<S extends TSchema>(schema: S, method: string, p: string, opts: { body?: unknown; auth?: boolean; timeoutMs?: number; signal?: AbortSignal }): Promise<Static<S>> {
    const headers: Record<string, string> = {};
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.auth) {
      if (!this.credential) throw new DammError('unauthorized', 'The agent has no gateway credential yet.');
      headers.authorization = `Bearer ${this.credential}`;
    }
    let res: { status: number; ok: boolean };
    let text: string;
    try {
      const r = await this.http(method, p, headers, opts.body === undefined ? undefined : JSON.stringify(opts.body), opts.timeoutMs ?? this.timeoutMs, opts.signal);
      res = { status: r.status, ok: r.status >= 200 && r.status < 300 };
      text = r.text;
    } catch (cause) {
      throw new Unreachable(`${method} ${p.split('?')[0]}: control plane unreachable (${(cause as Error).message})`, { cause });
    }
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    if (!res.ok) {
      if (res.status >= 500 && res.status !== 503) throw new Unreachable(`${method} ${p.split('?')[0]}: control plane answered ${res.status}`);
      const e = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
      const code = e?.code && isErrorCode(e.code) ? e.code : res.status === 503 ? 'store_unavailable' : 'internal';
      if (code === 'store_unavailable') throw new Unreachable(`${method} ${p.split('?')[0]}: ${e?.message ?? 'unavailable'}`);
      throw new DammError(code, e?.message ?? `The control plane answered ${res.status}.`);
    }
    if (!Value.Check(schema, parsed)) {
      const first = [...Value.Errors(schema, parsed)][0];
      throw new DammError('internal', `The control plane's answer to ${method} ${p.split('?')[0]} does not match its schema (${first?.path ?? '?'}: ${first?.message ?? '?'}).`);
    }
    return parsed as Static<S>;
  }

  register(body: RegisterGatewayRequest) {
    return this.call(RegisterGatewayResponse, 'POST', '/v1/gateways/register', { body });
  }

  feed(after: number, waitSeconds: number, signal?: AbortSignal) {
    return this.call(FeedResponse, 'GET', `/v1/gateways/${this.gatewayId}/feed?after=${after}&wait=${waitSeconds}`, {
      auth: true,
      timeoutMs: (waitSeconds + 15) * 1000,
      ...(signal ? { signal } : {}),
    });
  }

  snapshot(signal?: AbortSignal) {
    return this.call(SnapshotResponse, 'GET', `/v1/gateways/${this.gatewayId}/snapshot`, { auth: true, timeoutMs: 120_000, ...(signal ? { signal } : {}) });
  }

  heartbeat(body: HeartbeatRequest) {
    return this.call(HeartbeatResponse, 'POST', `/v1/gateways/${this.gatewayId}/heartbeat`, { auth: true, body });
  }

  async fetchRoot(version: number): Promise<unknown | null> {
    try {
      return await this.call(Type.Unknown(), 'GET', `/v1/trust/root/${version}.json`, {});
    } catch (err) {
      if (err instanceof DammError && err.code === 'not_found') return null; // 404: the chain ends here
      throw err;
    }
  }
}
