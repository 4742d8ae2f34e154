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

const LISTEN_BACKOFF_MIN_MS = 250;
const LISTEN_BACKOFF_MAX_MS = 10_000;

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
  private listenBackoffMs = LISTEN_BACKOFF_MIN_MS;
  private listenedBefore = false;
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
    const client = new pg.Client({ ...this.ctx.db.options, application_name: 'damm-feed-listen', keepAlive: true });
    client.on('notification', (msg) => {
      if (msg.channel !== FEED_CHANNEL) return;
      const head = Number(msg.payload);
      if (Number.isSafeInteger(head)) this.advance(head);
    });
    // Every error (a failed connect, the server restarting, a dropped socket)
    // lands here and nowhere else: an 'error' event without a listener would
    // end the process. Later errors of the same dead client are ignored.
    let lost = false;
    client.on('error', (err) => {
      if (lost) return;
      lost = true;
      if (this.listenClient === client) this.listenClient = null;
      if (!this.stopped) this.ctx.log.warn({ err, retryInMs: this.listenBackoffMs }, 'feed LISTEN connection lost; reconnecting');
      void client.end().catch(() => {});
      this.scheduleListen();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${FEED_CHANNEL}`);
    } catch (err) {
      lost = true;
      void client.end().catch(() => {});
      throw err;
    }
    if (this.stopped || lost) {
      await client.end().catch(() => {});
      if (lost) throw new Error('feed LISTEN connection lost while subscribing');
      return;
    }
    this.listenClient = client;
    this.listenBackoffMs = LISTEN_BACKOFF_MIN_MS;
    // NOTIFYs sent while we were not listening are gone. The feed is
    // revision-based, so waking every parked long-poll to re-read from its
    // cursor is always correct, and the head read below catches this process up.
    if (this.listenedBefore) this.wakeAll();
    this.listenedBefore = true;
    this.advance((await feedHead(this.ctx.db)).head);
  }

  /** Reconnects after a growing delay (0.25 s, 0.5 s, 1 s ... 10 s), reset by a successful LISTEN. */
  private scheduleListen(): void {
    if (this.stopped || this.listenRetry) return;
    const delay = this.listenBackoffMs;
    this.listenBackoffMs = Math.min(this.listenBackoffMs * 2, LISTEN_BACKOFF_MAX_MS);
    this.listenRetry = setTimeout(() => {
      this.listenRetry = null;
      this.listen().catch((err: unknown) => {
        this.ctx.log.debug({ err }, 'feed LISTEN reconnect failed');
        this.scheduleListen();
      });
    }, delay);
    this.listenRetry.unref();
  }

  private wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ctx.db.off('release', this.onRelease);
    for (const t of this.timers) clearInterval(t);
    if (this.listenRetry) clearTimeout(this.listenRetry);
    this.wakeAll();
    const c = this.listenClient;
    this.listenClient = null;
    if (c) await c.end().catch(() => {});
    while (this.running) await new Promise((r) => setTimeout(r, 5));
  }
}
