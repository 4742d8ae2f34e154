/**
 * The enrollment workload: `count` POST /v1/enroll requests, each with a
 * pre-issued pass and a fresh public key, from `concurrency` clients over
 * keep-alive HTTP/1.1 connections (node:http: far lighter on the shared CPU
 * than fetch). Latency is request start to last byte of the response.
 */
import http from 'node:http';
import { randomPublicKeys } from './seed.js';

export interface LoadResult {
  count: number;
  concurrency: number;
  wallMs: number;
  /** Per request, in completion order. */
  latenciesMs: number[];
  statuses: Record<string, number>;
  /** First few failure bodies, for the notes. */
  failures: string[];
  /** Responses parsed when `keep` is set. */
  bodies: unknown[];
}

export interface LoadOptions {
  url: string;
  path?: string;
  passes: string[];
  concurrency: number;
  /** Defaults to passes.length. */
  count?: number;
  publicKeys?: string[];
  /** Keep parsed response bodies (costs memory). */
  keep?: boolean;
  /** Called after each response with its index, latency and body text. */
  onResponse?: (i: number, ms: number, status: number, body: string, publicKey: string) => void;
  onProgress?: (done: number, total: number) => void;
  timeoutMs?: number;
  /** Stop starting new requests after this many ms (time-boxed phases); `count` is then what completed. */
  budgetMs?: number;
}

export async function enrollLoad(o: LoadOptions): Promise<LoadResult> {
  const count = o.count ?? o.passes.length;
  if (o.passes.length < count) throw new Error(`need ${count} passes, have ${o.passes.length}`);
  const keys = o.publicKeys ?? randomPublicKeys(count);
  const u = new URL(o.path ?? '/v1/enroll', o.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const latenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  const failures: string[] = [];
  const bodies: unknown[] = [];
  let next = 0;
  let done = 0;

  const one = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const payload = JSON.stringify({ installPass: o.passes[i], publicKey: keys[i] });
      const t0 = performance.now();
      const req = http.request(
        { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }, timeout: o.timeoutMs ?? 60_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const ms = performance.now() - t0;
            const status = res.statusCode ?? 0;
            const text = Buffer.concat(chunks).toString('utf8');
            latenciesMs.push(ms);
            statuses[status] = (statuses[status] ?? 0) + 1;
            if (status !== 201 && failures.length < 5) failures.push(`${status} ${text.slice(0, 300)}`);
            if (o.keep) bodies.push(JSON.parse(text));
            o.onResponse?.(i, ms, status, text, keys[i]!);
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => {
        statuses['error'] = (statuses['error'] ?? 0) + 1;
        if (failures.length < 5) failures.push(`error ${e.message}`);
        resolve();
      });
      req.end(payload);
    });

  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(o.concurrency, count) }, async () => {
      while (next < count && !(o.budgetMs !== undefined && performance.now() - t0 > o.budgetMs)) {
        const i = next++;
        await one(i);
        done++;
        o.onProgress?.(done, count);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  agent.destroy();
  return { count: done, concurrency: o.concurrency, wallMs, latenciesMs, statuses, failures, bodies };
}
