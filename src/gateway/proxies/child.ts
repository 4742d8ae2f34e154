/**
 * A door server as a child process the gateway owns: started with an
 * argument array (never a shell), its log lines kept (bounded) so a driver
 * can wait for the server's own confirmation of a start or a reload, and
 * stopped by its pid. Shared by the outline-ss-server and Xray drivers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import PQueue from 'p-queue';
import { DammError } from '../../core/errors.js';

/**
 * What both door-server drivers share: the child they own, one operation at
 * a time (two reloads or API calls in flight could confirm each other's
 * change), stop, the pid, and a clear error when asked to act while stopped.
 */
export abstract class ChildServerDriver {
  protected child: ServerChild | undefined;
  private readonly queue = new PQueue({ concurrency: 1 });

  constructor(private readonly serverName: string) {}

  protected serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.add(fn);
  }

  async stop(): Promise<void> {
    await this.serial(async () => {
      await this.child?.stop();
      this.child = undefined;
    });
  }

  /** The server's pid (tests and benchmarks signal or inspect it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  protected running(): ServerChild {
    if (!this.child) throw new DammError('conflict', `${this.serverName} is not running: start() it first.`);
    return this.child;
  }
}

export interface ServerChild {
  readonly pid: number;
  /** Log lines seen so far (the last 2,000). */
  lines(): string[];
  /** Number of lines seen since start (monotonic, survives trimming), to wait only for what comes after a point. */
  mark(): number;
  /** Resolves with the first line after `since` matching `re`; rejects on `timeoutMs` or exit. */
  waitForLine(re: RegExp, since: number, timeoutMs: number): Promise<string>;
  signal(sig: NodeJS.Signals): void;
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

export function startServerChild(argv: readonly string[], what: string, env: NodeJS.ProcessEnv = process.env): ServerChild {
  const [cmd, ...args] = argv;
  if (!cmd) throw new DammError('config_invalid', `${what}: empty command`);
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const kept: string[] = [];
  let seen = 0;
  const waiters = new Set<{ re: RegExp; since: number; resolve: (l: string) => void }>();
  const onLine = (line: string): void => {
    seen++;
    kept.push(line);
    if (kept.length > 2000) kept.splice(0, kept.length - 2000);
    for (const w of [...waiters]) {
      if (seen > w.since && w.re.test(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let buf = '';
    stream.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  }
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (e) => ((spawnError = e), resolve(null)));
    child.once('exit', (code) => resolve(code));
  });
  let gone = false;
  void exited.then(() => (gone = true));
  const tail = (): string => kept.slice(-20).join('\n');

  return {
    get pid() {
      return child.pid ?? -1;
    },
    lines: () => [...kept],
    mark: () => seen,
    waitForLine(re, since, timeoutMs) {
      const start = Math.max(0, kept.length - (seen - since));
      const hit = kept.slice(start).find((l) => re.test(l));
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = {
          re,
          since,
          resolve: (l: string) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new DammError('internal', `${what}: no ${re} within ${timeoutMs} ms. Last lines:\n${tail()}`));
        }, timeoutMs);
        waiters.add(w);
        void exited.then((code) => {
          if (!waiters.delete(w)) return;
          clearTimeout(timer);
          reject(new DammError('internal', `${what} exited (${spawnError?.message ?? code}) before ${re}. Last lines:\n${tail()}`));
        });
      });
    },
    signal(sig) {
      if (gone || child.pid === undefined) throw new DammError('internal', `${what} is not running`);
      process.kill(child.pid, sig);
    },
    exited,
    async stop() {
      if (gone || child.pid === undefined) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000)))]);
      clearTimeout(timer);
      if (!ended) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
