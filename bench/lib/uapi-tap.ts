/**
 * A transparent tap on a WireGuard UAPI socket: the agent is pointed at
 * `<tapDir>/<ifname>.sock` (its --uapi-socket-dir), every connection is
 * forwarded byte for byte to the daemon's real socket, and the tap notes the
 * moment the daemon answered errno=0 to a `set=1` carrying each peer. That is
 * the instant the peer is live on the interface — measured without polling
 * the daemon (a get=1 of thousands of peers would itself disturb the timing).
 * The extra hop costs the agent a few microseconds per request.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import path from 'node:path';

export class UapiTap {
  readonly socketPath: string;
  /** base64 public key → performance.now() when the daemon acknowledged the set that upserted it. */
  readonly liveAt = new Map<string, number>();
  readonly removedAt = new Map<string, number>();
  /** Every request the daemon answered: when, what, how many peers it upserted. */
  readonly requests: Array<{ t: number; kind: 'get' | 'set'; upserts: number; errno: number }> = [];
  setRequests = 0;
  getRequests = 0;
  failedSets = 0;
  private server: Server | null = null;
  private waiters = new Map<string, Array<(t: number) => void>>();
  private removalWaiters = new Map<string, Array<(t: number) => void>>();
  private readonly conns = new Set<Socket>();
  /** Called with each acknowledged batch (upserted keys, ack time). */
  onBatch: ((keys: string[], t: number) => void) | null = null;

  constructor(tapDir: string, ifname: string, private readonly realSocket: string) {
    this.socketPath = path.join(tapDir, `${ifname}.sock`);
  }

  async listen(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    this.server = createServer((client) => this.handle(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.socketPath, () => resolve());
    });
  }

  /** Resolves with the live time of `key` (at once if already live). */
  whenLive(key: string): Promise<number> {
    return this.when(this.liveAt, this.waiters, key);
  }

  /** Resolves with the time the daemon acknowledged the set that removed `key` (at once if it already did). */
  whenRemoved(key: string): Promise<number> {
    return this.when(this.removedAt, this.removalWaiters, key);
  }

  private when(seen: Map<string, number>, waiters: Map<string, Array<(t: number) => void>>, key: string): Promise<number> {
    const t = seen.get(key);
    if (t !== undefined) return Promise.resolve(t);
    return new Promise((resolve) => {
      const list = waiters.get(key) ?? [];
      list.push(resolve);
      waiters.set(key, list);
    });
  }

  private handle(client: Socket): void {
    this.conns.add(client);
    const daemon = createConnection(this.realSocket);
    this.conns.add(daemon);
    const req: Buffer[] = [];
    let answered = false;
    let answer = '';
    client.on('data', (b: Buffer) => {
      req.push(b);
      daemon.write(b);
    });
    daemon.on('data', (b: Buffer) => {
      client.write(b);
      if (answered) return;
      // Only the end of an answer matters (a get of many peers is megabytes).
      answer = (answer + b.toString('latin1')).slice(-64);
      const m = /errno=(-?\d+)\n/.exec(answer);
      if (!m) return;
      answered = true;
      const t = performance.now();
      this.settle(Buffer.concat(req).toString('latin1'), Number(m[1]), t);
    });
    const end = () => {
      this.conns.delete(client);
      this.conns.delete(daemon);
      client.destroy();
      daemon.destroy();
    };
    client.on('end', () => daemon.end());
    daemon.on('end', () => client.end());
    client.on('close', end);
    daemon.on('close', end);
    client.on('error', end);
    daemon.on('error', end);
  }

  private settle(request: string, errno: number, t: number): void {
    if (request.startsWith('get=1')) {
      this.getRequests++;
      this.requests.push({ t, kind: 'get', upserts: 0, errno });
      return;
    }
    if (!request.startsWith('set=1')) return;
    this.setRequests++;
    if (errno !== 0) {
      // Peers before the bad line did apply, but which ones is the agent's business (it reads back); the final check counts.
      this.failedSets++;
      this.requests.push({ t, kind: 'set', upserts: 0, errno });
      return;
    }
    const upserts: string[] = [];
    let current: string | null = null;
    let removed = false;
    const flush = () => {
      if (current === null) return;
      if (removed) {
        this.removedAt.set(current, t);
        const w = this.removalWaiters.get(current);
        this.removalWaiters.delete(current);
        for (const f of w ?? []) f(t);
      } else upserts.push(current);
    };
    let i = 0;
    while (i < request.length) {
      const j = request.indexOf('\n', i);
      const line = request.slice(i, j < 0 ? request.length : j);
      i = j < 0 ? request.length : j + 1;
      if (line.startsWith('public_key=')) {
        flush();
        current = Buffer.from(line.slice(11), 'hex').toString('base64');
        removed = false;
      } else if (line === 'remove=true') removed = true;
    }
    flush();
    this.requests.push({ t, kind: 'set', upserts: upserts.length, errno });
    for (const k of upserts) {
      if (!this.liveAt.has(k)) this.liveAt.set(k, t);
      const w = this.waiters.get(k);
      if (w) {
        this.waiters.delete(k);
        for (const f of w) f(t);
      }
    }
    this.onBatch?.(upserts, t);
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    rmSync(this.socketPath, { force: true });
  }
}

/** One raw UAPI request on a fresh connection; resolves with the daemon's answer text. */
export function uapiRequest(socketPath: string, request: string, timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection(socketPath);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`UAPI request timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const chunks: Buffer[] = [];
    let tail = '';
    s.on('data', (b: Buffer) => {
      chunks.push(b);
      tail = (tail + b.toString('latin1')).slice(-64);
      if (/errno=-?\d+\n\n$/.test(tail)) {
        clearTimeout(t);
        s.end();
        resolve(Buffer.concat(chunks).toString('latin1'));
      }
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.write(request);
  });
}

/** Public keys (base64) a daemon holds, by a get=1 on its real socket. */
export async function interfacePeers(socketPath: string): Promise<Set<string>> {
  const text = await uapiRequest(socketPath, 'get=1\n\n');
  const keys = new Set<string>();
  for (const line of text.split('\n')) if (line.startsWith('public_key=')) keys.add(Buffer.from(line.slice(11), 'hex').toString('base64'));
  return keys;
}
