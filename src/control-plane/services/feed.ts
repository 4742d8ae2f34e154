/**
 * The change feed's moving parts inside one control-plane process:
 * - the sequencer (store/feed.ts explains the ordering design), kicked right
 *   after a transaction that wrote events commits, plus a slow poll that
 *   picks up anything a crashed process left unsequenced;
 * - one dedicated LISTEN connection per process, so a sequencer run in any
 *   process wakes the long-polls waiting in every process;
 * - the waiters: long-polls parked until the head moves past what they saw.
 */
import pg from 'pg';
import type { Ctx } from '../context.js';
import type { Tx } from '../../store/db.js';
import { FEED_CHANNEL, feedHead, hasUnsequenced, pruneFeed, revisionBefore, sequencePending } from '../../store/feed.js';

export interface FeedServiceOptions {
  /** How often to look for events nobody sequenced (a writer's process died between commit and kick). */
  sweepIntervalMs?: number;
  /** Events older than this are compacted (latest per device kept). */
  retentionSeconds?: number;
  pruneIntervalMs?: number;
}

export class FeedService {
  private readonly ctx: Ctx;
  private readonly opts: Required<FeedServiceOptions>;
  private head = 0;
  private readonly waiters = new Set<() => void>();
  private readonly written = new WeakSet<object>();
  private running = false;
  private again = false;
  private stopped = false;
  private listenClient: pg.Client | null = null;
  private listenRetry: NodeJS.Timeout | null = null;
  private timers: NodeJS.Timeout[] = [];
  private readonly onRelease = (_err: unknown, client: unknown): void => {
    if (client && this.written.delete(client as object)) this.kick();
  };

  constructor(ctx: Ctx, opts: FeedServiceOptions = {}) {
    this.ctx = ctx;
    this.opts = {
      sweepIntervalMs: opts.sweepIntervalMs ?? 1000,
      retentionSeconds: opts.retentionSeconds ?? 7 * 86400,
      pruneIntervalMs: opts.pruneIntervalMs ?? 10 * 60_000,
    };
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
        const r = await sequencePending(this.ctx.db);
        if (r.count > 0) this.advance(r.head);
        if (r.more) this.again = true;
      } while (this.again && !this.stopped);
    } catch (err) {
      this.ctx.log.warn({ err }, 'feed sequencer run failed; the sweep will retry');
    } finally {
      this.running = false;
    }
  }

  private advance(head: number): void {
    if (head <= this.head) return;
    this.head = head;
    for (const wake of [...this.waiters]) wake();
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
    this.ctx.db.on('release', this.onRelease);
    this.advance((await feedHead(this.ctx.db)).head);
    await this.listen().catch((err) => {
      this.ctx.log.warn({ err }, 'feed LISTEN connection failed; retrying');
      this.scheduleListen();
    });
    const sweep = setInterval(() => {
      void hasUnsequenced(this.ctx.db)
        .then((pending) => (pending ? this.kick() : undefined))
        .catch(() => {});
    }, this.opts.sweepIntervalMs);
    const prune = setInterval(() => void this.prune().catch((err) => this.ctx.log.warn({ err }, 'feed prune failed')), this.opts.pruneIntervalMs);
    for (const t of [sweep, prune]) t.unref();
    this.timers.push(sweep, prune);
    this.kick();
  }

  /** Compacts events older than the retention period. Returns how many were removed. */
  async prune(): Promise<number> {
    const through = await revisionBefore(this.ctx.db, new Date(this.ctx.clock.now().getTime() - this.opts.retentionSeconds * 1000));
    return through > 0 ? pruneFeed(this.ctx.db, through) : 0;
  }

  private async listen(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ ...this.ctx.db.options, application_name: 'damm-feed-listen' });
    client.on('notification', (msg) => {
      if (msg.channel !== FEED_CHANNEL) return;
      const head = Number(msg.payload);
      if (Number.isSafeInteger(head)) this.advance(head);
    });
    client.on('error', (err) => {
      this.ctx.log.warn({ err }, 'feed LISTEN connection lost; reconnecting');
      if (this.listenClient === client) this.listenClient = null;
      void client.end().catch(() => {});
      this.scheduleListen();
    });
    await client.connect();
    await client.query(`LISTEN ${FEED_CHANNEL}`);
    if (this.stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.listenClient = client;
    // Whatever was notified while we were not listening.
    this.advance((await feedHead(this.ctx.db)).head);
  }

  private scheduleListen(): void {
    if (this.stopped || this.listenRetry) return;
    this.listenRetry = setTimeout(() => {
      this.listenRetry = null;
      void this.listen().catch(() => this.scheduleListen());
    }, 1000);
    this.listenRetry.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ctx.db.off('release', this.onRelease);
    for (const t of this.timers) clearInterval(t);
    if (this.listenRetry) clearTimeout(this.listenRetry);
    for (const wake of [...this.waiters]) wake();
    const c = this.listenClient;
    this.listenClient = null;
    if (c) await c.end().catch(() => {});
    while (this.running) await new Promise((r) => setTimeout(r, 5));
  }
}
