/**
 * The enrollment workload: `count` POST /v1/enroll requests, each with a
 * pre-issued pass and a fresh public key, from `concurrency` clients over
 * keep-alive HTTP/1.1 connections (node:http: far lighter on the shared CPU
 * than fetch). Latency is request start to last byte of the response.
 */
import http from 'node:http';
import { randomPublicKeys } from './seed.js';

export interface EnrollAnswer {
  status: number;
  text: string;
  /** performance.now() at request start and at the response's last byte. */
  t0: number;
  t1: number;
  error?: string;
}

/** One enrollment on a keep-alive agent. Never rejects: errors come back as status 0. */
export function postEnroll(agent: http.Agent, url: URL, pass: string, publicKey: string, timeoutMs = 60_000): Promise<EnrollAnswer> {
  return new Promise((resolve) => {
    const payload = JSON.stringify({ installPass: pass, publicKey });
    const t0 = performance.now();
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), t0, t1: performance.now() }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, text: '', t0, t1: performance.now(), error: e.message }));
    req.end(payload);
  });
}

export interface LoadResult {
  count: number;
  concurrency: number;
  wallMs: number;
  /** Per request, in completion order. */
  latenciesMs: number[];
  statuses: Record<string, number>;
  /** First few failure bodies, for the notes. */
  failures: string[];
}

export interface LoadOptions {
  url: string;
  path?: string;
  passes: string[];
  concurrency: number;
  /** Defaults to passes.length. */
  count?: number;
  publicKeys?: string[];
  /** Called after each response with its index and answer. */
  onResponse?: (i: number, a: EnrollAnswer, publicKey: string) => void;
  onProgress?: (done: number, total: number) => void;
  timeoutMs?: number;
  /** Stop starting new requests after this many ms (time-boxed phases); `count` is then what completed. */
  budgetMs?: number;
  /** Sockets per control plane (default: concurrency). */
  maxSockets?: number;
}

export async function enrollLoad(o: LoadOptions): Promise<LoadResult> {
  const count = o.count ?? o.passes.length;
  if (o.passes.length < count) throw new Error(`need ${count} passes, have ${o.passes.length}`);
  const keys = o.publicKeys ?? randomPublicKeys(count);
  const u = new URL(o.path ?? '/v1/enroll', o.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.maxSockets ?? o.concurrency });
  const latenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  const failures: string[] = [];
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(o.concurrency, count) }, async () => {
      while (next < count && !(o.budgetMs !== undefined && performance.now() - t0 > o.budgetMs)) {
        const i = next++;
        const a = await postEnroll(agent, u, o.passes[i]!, keys[i]!, o.timeoutMs);
        const key = a.error ? 'error' : String(a.status);
        statuses[key] = (statuses[key] ?? 0) + 1;
        if (a.status !== 201 && failures.length < 5) failures.push(a.error ? `error ${a.error}` : `${a.status} ${a.text.slice(0, 300)}`);
        latenciesMs.push(a.t1 - a.t0);
        o.onResponse?.(i, a, keys[i]!);
        done++;
        o.onProgress?.(done, count);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  agent.destroy();
  return { count: done, concurrency: o.concurrency, wallMs, latenciesMs, statuses, failures };
}
