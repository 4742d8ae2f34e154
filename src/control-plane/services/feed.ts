/**
 * The change feed's moving parts inside one control-plane process:
 * - the sequencer (store/feed.ts explains the ordering design), kicked right
 *   after a transaction that wrote events commits, plus a slow poll that
 *   picks up anything a crashed process left unsequenced;
 * - one dedicated LISTEN connection per process (store/feed-listener.ts), so
 *   a sequencer run in any process wakes the long-polls waiting in every
 *   process;
 * - the waiters: long-polls parked until the head moves past what they saw.
 * All of its SQL lives in src/store/.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import type { Db, Tx } from '../../store/db.js';
import { feedHead, hasUnsequenced, pruneFeed, revisionBefore, sequencePending } from '../../store/feed.js';
import { FeedListener } from '../../store/feed-listener.js';

export interface FeedServiceDeps {
  db: Db;
  clock: Clock;
  log: Logger;
}

export interface FeedServiceOptions {
  /** How often to look for events nobody sequenced (a writer's process died between commit and kick). */
  sweepIntervalMs?: number;
  /** Events older than this are compacted (latest per device kept). */
  retentionSeconds?: number;
  pruneIntervalMs?: number;
}

export class FeedService {
  private readonly deps: FeedServiceDeps;
  private readonly opts: Required<FeedServiceOptions>;
  private head = 0;
  private readonly waiters = new Set<() => void>();
  private readonly written = new WeakSet<object>();
  private running = false;
  private again = false;
  private stopped = false;
  private readonly listener: FeedListener;
  private timers: NodeJS.Timeout[] = [];
  private readonly onRelease = (_err: unknown, client: unknown): void => {
    if (client && this.written.delete(client as object)) this.kick();
  };

  constructor(deps: FeedServiceDeps, opts: FeedServiceOptions = {}) {
    this.deps = deps;
    this.opts = {
      sweepIntervalMs: opts.sweepIntervalMs ?? 1000,
      retentionSeconds: opts.retentionSeconds ?? 7 * 86400,
      pruneIntervalMs: opts.pruneIntervalMs ?? 10 * 60_000,
    };
    this.listener = new FeedListener({
      db: deps.db,
      log: deps.log,
      onHead: (head) => this.advance(head),
      onSubscribed: async (first) => {
        // NOTIFYs sent while the connection was down are gone. The feed is
        // revision-based, so waking every parked long-poll to re-read from its
        // cursor is always correct, and the head read catches this process up.
        if (!first) this.wakeAll();
        this.advance((await feedHead(this.deps.db)).head);
      },
    });
  }

  /** True once the process is shutting down: long polls answer at once. */
  get stopping(): boolean {
    return this.stopped;
  }

  /** The head revision this process knows of (from its own sequencer runs and NOTIFYs). */
  knownHead(): number {
    return this.head;
  }

  /**
   * A writer calls this inside its transaction; the sequencer is kicked when
   * the transaction's connection goes back to the pool, i.e. after COMMIT (or
   * ROLLBACK, which makes the kick a no-op).
   */
  wrote(tx: Tx): void {
    this.written.add(tx);
  }

  /** Run the sequencer now (coalesced: at most one run in flight per process, plus one queued). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.sequenceLoop();
  }

  private async sequenceLoop(): Promise<void> {
    try {
      do {
        this.again = false;
        const r = await sequencePending(this.deps.db);
        if (r.count > 0) this.advance(r.head);
        if (r.more) this.again = true;
      } while (this.again && !this.stopped);
    } catch (err) {
      this.deps.log.warn({ err }, 'feed sequencer run failed; the sweep will retry');
    } finally {
      this.running = false;
    }
  }

  private advance(head: number): void {
    if (head <= this.head) return;
    this.head = head;
    this.wakeAll();
  }

  /** Resolves when the head passes `seen`, after `ms`, or on abort/stop. */
  waitForChange(seen: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.head > seen || this.stopped || ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async start(): Promise<void> {
    this.deps.db.on('release', this.onRelease);
    this.advance((await feedHead(this.deps.db)).head);
    await this.listener.start();
    const sweep = setInterval(() => {
      void hasUnsequenced(this.deps.db)
        .then((pending) => (pending ? this.kick() : undefined))
        .catch(() => {});
    }, this.opts.sweepIntervalMs);
    const prune = setInterval(() => void this.prune().catch((err) => this.deps.log.warn({ err }, 'feed prune failed')), this.opts.pruneIntervalMs);
    for (const t of [sweep, prune]) t.unref();
    this.timers.push(sweep, prune);
    this.kick();
  }

  /** Compacts events older than the retention period. Returns how many were removed. */
  async prune(): Promise<number> {
    const through = await revisionBefore(this.deps.db, new Date(this.deps.clock.now().getTime() - this.opts.retentionSeconds * 1000));
    return through > 0 ? pruneFeed(this.deps.db, through) : 0;
  }

  private wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.deps.db.off('release', this.onRelease);
    for (const t of this.timers) clearInterval(t);
    this.wakeAll();
    await this.listener.stop();
    while (this.running) await new Promise((r) => setTimeout(r, 5));
  }
}
