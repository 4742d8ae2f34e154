/**
 * The one HTTP client every Node caller of the control plane's API uses: the
 * gateway agent, the CLI and the trust fetcher. JSON in and out, a bearer
 * token when asked, a timeout and an AbortSignal per call, a cap on the
 * answer's size, an optional schema check of the answer, and error answers
 * read by the one decoder (core/api-error.ts) that the wizard uses too.
 *
 * Failures come in two kinds a caller acts on differently:
 *   Unreachable  no answer (refused, reset, timed out), or a 5xx that is not
 *                a specific 503 refusal: worth retrying later
 *   DammError    the service answered no: its code and sentence, with
 *                status, retryAfterSeconds and requestId in `details`
 *
 * Speaks node:http(s) with its own keep-alive agent rather than fetch, so
 * close() ends its connections for certain (an aborted fetch can leave the
 * global pool opening a fresh, request-less connection, which keeps a control
 * plane's graceful close waiting for its header timeout).
 *
 * This module loads with the CLI's operator commands, so it stays light:
 * TypeBox loads only when a call asks for a schema check.
 */
import http from 'node:http';
import https from 'node:https';
import type { Static, TSchema } from '@sinclair/typebox';
import { decodeApiError } from '../core/api-error.js';
import { DammError, isErrorCode, type ErrorCode } from '../core/errors.js';

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/** The service could not be reached or is failing on its side (a 5xx that is not a specific 503 refusal): worth retrying. */
export class Unreachable extends DammError {
  /** The 5xx status the service answered with, or null when no answer came. */
  readonly status: number | null;
  /** No answer came within the call's timeout. */
  readonly timedOut: boolean;

  constructor(message: string, o: { code?: ErrorCode; status?: number | null; timedOut?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(o.code ?? 'store_unavailable', message, { cause: o.cause, ...(o.details ? { details: o.details } : {}) });
    this.name = 'Unreachable';
    this.status = o.status ?? null;
    this.timedOut = o.timedOut ?? false;
  }
}

export interface HttpClientOptions {
  /** Per-call default; a call may pass its own. */
  timeoutMs?: number;
  /** Answers longer than this are refused (DammError 'internal'). */
  maxResponseBytes?: number;
  /** Connections kept open to the service at most. */
  maxSockets?: number;
}

export interface CallOptions<S extends TSchema | undefined = undefined> {
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as `Authorization: Bearer …`; never logged or put in an error. */
  token?: string;
  /** The answer must match it, or the call fails with DammError 'internal' naming the first mismatch. */
  schema?: S;
  timeoutMs?: number;
  /** Aborting rejects the call with the signal's reason. */
  signal?: AbortSignal;
}

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

let valueChecker: Promise<typeof import('@sinclair/typebox/value').Value> | null = null;
/** TypeBox's checker with DAMM's string formats registered, loaded on the first schema check. */
function loadValueChecker(): Promise<typeof import('@sinclair/typebox/value').Value> {
  valueChecker ??= Promise.all([import('@sinclair/typebox/value'), import('../core/formats.js')]).then(([m]) => m.Value);
  return valueChecker;
}

export class HttpClient {
  /** The base URL, ending in '/': call paths are relative to it (a path prefix is kept). */
  readonly base: URL;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private closed = false;

  constructor(baseUrl: string, o: HttpClientOptions = {}) {
    let base: URL;
    try {
      base = new URL(baseUrl.replace(/\/+$/, '') + '/');
    } catch {
      throw new DammError('invalid_argument', `Not a URL: ${JSON.stringify(baseUrl)}. The control plane URL must be http:// or https://.`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new DammError('invalid_argument', 'The control plane URL must be http:// or https://.');
    if (base.search || base.hash) throw new DammError('invalid_argument', 'The control plane URL must not carry a query or a fragment.');
    this.base = base;
    const agentOptions = { keepAlive: true, maxSockets: o.maxSockets ?? 4 };
    this.agent = base.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  /** Ends every connection, idle or busy; later calls fail as Unreachable. */
  close(): void {
    this.closed = true; // the agent alone would open fresh connections for later calls
    this.agent.destroy();
  }

  /** `path` is relative to the base URL ('/v1/x?y=1'). The answer is parsed JSON (null for an empty body), schema-checked when a schema is given. */
  async call<S extends TSchema>(method: string, path: string, o: CallOptions<S> & { schema: S }): Promise<Static<S>>;
  async call<T = unknown>(method: string, path: string, o?: CallOptions): Promise<T>;
  async call(method: string, path: string, o: CallOptions<TSchema | undefined> = {}): Promise<unknown> {
    const what = `${method} ${path.split('?')[0]}`;
    const raw = await this.send(method, path, o, what);
    let parsed: unknown = null;
    let json = true;
    if (raw.body.length > 0) {
      try {
        parsed = JSON.parse(raw.body.toString('utf8'));
      } catch {
        json = false; // e.g. a proxy's error page: the status decides below
      }
    }
    if (raw.status < 200 || raw.status >= 300) throw this.refusal(what, raw, parsed);
    if (!json) throw new DammError('internal', `The answer to ${what} is not JSON.`, { details: { status: raw.status } });
    if (o.schema) {
      const Value = await loadValueChecker();
      if (!Value.Check(o.schema, parsed)) {
        const first = [...Value.Errors(o.schema, parsed)][0];
        throw new DammError('internal', `The answer to ${what} does not match its schema (${first?.path || '/'}: ${first?.message ?? '?'}).`);
      }
    }
    return parsed;
  }

  /**
   * The server's clock, from the Date header of a GET to `path`, and the local
   * instants around the call, for skew checks (`damm gateway join`). The Date
   * header has one-second resolution; callers allow for that and the round trip.
   */
  async serverTime(path: string, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<{ server: Date; sentAt: number; receivedAt: number }> {
    const what = `GET ${path.split('?')[0]}`;
    const sentAt = Date.now();
    const raw = await this.send('GET', path, o, what);
    const receivedAt = Date.now();
    const date = header(raw.headers.date);
    const server = date ? new Date(date) : null;
    if (!server || Number.isNaN(server.getTime())) throw new DammError('internal', `The answer to ${what} has no usable Date header.`);
    return { server, sentAt, receivedAt };
  }

  /**
   * A call whose 2xx answer is read as it arrives (a large snapshot): resolves
   * once the status line came, with the body as chunks. Error answers are read
   * whole and thrown as call() throws them. The timeout is an idle timeout
   * (no byte for that long), not a total; the size cap and the signal hold for
   * the whole body. A body cut off before its end throws Unreachable from the
   * iteration; leaving the iteration early drops the connection.
   */
  async stream(method: string, path: string, o: Omit<CallOptions, 'schema' | 'body'> = {}): Promise<{ headers: http.IncomingHttpHeaders; body: AsyncIterable<Buffer> }> {
    const what = `${method} ${path.split('?')[0]}`;
    const url = new URL(path.replace(/^\/+/, ''), this.base);
    const headers: Record<string, string> = { accept: '*/*' };
    if (o.token !== undefined) headers['authorization'] = `Bearer ${o.token}`;
    const idleMs = o.timeoutMs ?? this.timeoutMs;
    const max = this.maxResponseBytes;
    const signal = o.signal;
    const lib = url.protocol === 'https:' ? https : http;
    if (signal?.aborted) throw abortReason(signal);
    if (this.closed) throw new Unreachable(`${what}: this client is closed`);
    let failure: unknown = null;
    const req = lib.request(url, { method, agent: this.agent, headers });
    const fail = (err: unknown) => {
      failure ??= err;
      req.destroy();
    };
    const onAbort = () => fail(abortReason(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    req.setTimeout(idleMs, () => fail(new Unreachable(`${what}: nothing from ${this.base.href} for ${idleMs / 1000} s`, { timedOut: true })));
    const cleanup = () => signal?.removeEventListener('abort', onAbort);
    let res: http.IncomingMessage;
    try {
      res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        req.once('response', resolve);
        req.once('error', (cause) => reject(failure ?? new Unreachable(`${what}: no answer from ${this.base.href} (${cause.message})`, { cause })));
        req.once('close', () => reject(failure ?? new Unreachable(`${what}: no answer from ${this.base.href}`)));
        req.end();
      });
    } catch (err) {
      cleanup();
      throw err;
    }
    req.on('error', () => {}); // later socket errors surface through the body's iteration
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      try {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const c of res as AsyncIterable<Buffer>) {
          size += c.length;
          if (size > 1024 * 1024) break; // an error body is small; do not read a huge one
          chunks.push(c);
        }
        let parsed: unknown = null;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          /* a proxy's error page: the status decides */
        }
        throw this.refusal(what, { status, headers: res.headers, body: Buffer.alloc(0) }, parsed);
      } finally {
        cleanup();
        req.destroy();
      }
    }
    if (Number(res.headers['content-length']) > max) {
      cleanup();
      req.destroy();
      throw new DammError('internal', `The answer to ${what} is larger than ${max} bytes.`);
    }
    const base = this.base.href;
    async function* body(): AsyncGenerator<Buffer> {
      let size = 0;
      let ended = false;
      try {
        for await (const c of res as AsyncIterable<Buffer>) {
          size += c.length;
          if (size > max) throw new DammError('internal', `The answer to ${what} is larger than ${max} bytes.`);
          yield c;
        }
        ended = true;
      } catch (err) {
        if (failure !== null) throw failure;
        if (err instanceof DammError) throw err;
        throw new Unreachable(`${what}: the answer from ${base} was cut off after ${size} bytes`, { cause: err });
      } finally {
        cleanup();
        if (!ended) req.destroy();
      }
      if (failure !== null) throw failure;
      if (!res.complete) throw new Unreachable(`${what}: the answer from ${base} was cut off after ${size} bytes`);
    }
    return { headers: res.headers, body: body() };
  }

  private refusal(what: string, raw: RawAnswer, parsed: unknown): Error {
    const d = decodeApiError({ status: raw.status, body: parsed, retryAfter: header(raw.headers['retry-after']), requestId: header(raw.headers['x-request-id']) });
    const details = {
      status: raw.status,
      code: d.code,
      ...(d.retryAfterSeconds !== null ? { retryAfterSeconds: d.retryAfterSeconds } : {}),
      ...(d.requestId !== null ? { requestId: d.requestId } : {}),
    };
    // A 503 naming a specific refusal (no gateway, pool exhausted) is an answer; any other 5xx means "try later".
    if (raw.status >= 500 && (raw.status !== 503 || d.code === 'store_unavailable')) {
      return new Unreachable(d.message, { code: isErrorCode(d.code) ? d.code : 'internal', status: raw.status, details });
    }
    if (raw.status >= 300 && raw.status < 400) {
      const location = header(raw.headers.location);
      return new DammError('invalid_argument', `${what}: ${this.base.href} redirects${location ? ` to ${location}` : ''}; use the URL it redirects to.`, { details });
    }
    return new DammError(isErrorCode(d.code) ? d.code : 'internal', d.message, { details });
  }

  private send(method: string, path: string, o: CallOptions<TSchema | undefined>, what: string): Promise<RawAnswer> {
    const url = new URL(path.replace(/^\/+/, ''), this.base);
    const body = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body), 'utf8');
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(body.length);
    }
    if (o.token !== undefined) headers['authorization'] = `Bearer ${o.token}`;
    const timeoutMs = o.timeoutMs ?? this.timeoutMs;
    const max = this.maxResponseBytes;
    const signal = o.signal;
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<RawAnswer>((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      if (this.closed) return reject(new Unreachable(`${what}: this client is closed`));
      let done = false;
      const finish = (err: unknown, value?: RawAnswer): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err !== null) {
          reject(err);
          req.destroy();
        } else resolve(value!);
      };
      const noAnswer = (cause: Error) => finish(new Unreachable(`${what}: no answer from ${this.base.href} (${cause.message})`, { cause }));
      const tooLarge = () => finish(new DammError('internal', `The answer to ${what} is larger than ${max} bytes.`));
      const req = lib.request(url, { method, agent: this.agent, headers }, (res) => {
        if (Number(res.headers['content-length']) > max) return tooLarge();
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > max) tooLarge();
          else chunks.push(c);
        });
        res.on('end', () => finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', noAnswer);
        res.on('close', () => {
          if (!res.complete) noAnswer(new Error('the answer was cut off'));
        });
      });
      req.on('error', noAnswer);
      const timer = setTimeout(() => {
        finish(new Unreachable(`${what}: no answer from ${this.base.href} in ${timeoutMs / 1000} s`, { timedOut: true }));
      }, timeoutMs);
      const onAbort = () => finish(abortReason(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      req.end(body);
    });
  }
}

function header(v: string | string[] | undefined): string | null {
  return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The call was aborted.', 'AbortError');
}
