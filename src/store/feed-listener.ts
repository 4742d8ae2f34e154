/**
 * The feed's LISTEN connection: one dedicated Postgres connection per
 * process, outside the pool, subscribed to the channel the sequencer
 * NOTIFYs (store/feed.ts), so a sequencer run in any process wakes the long
 * polls waiting in every process.
 *
 * The connection is kept up for the life of the process: when Postgres
 * restarts or the socket drops, it reconnects after a growing delay (0.25 s,
 * 0.5 s, 1 s ... 10 s), reset by a successful LISTEN. NOTIFYs sent while it
 * was down are gone, so each re-subscription is reported to the owner, which
 * re-reads the head and wakes its waiters.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from './db.js';
import { FEED_CHANNEL } from './feed.js';

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;

export interface FeedListenerOptions {
  /** The pool whose connection settings the LISTEN connection copies. */
  db: Db;
  log: Logger;
  /** A NOTIFY arrived with this head revision. */
  onHead(head: number): void;
  /**
   * The channel is subscribed (`first`: for the first time). Awaited before
   * the subscription counts as done; a failure here is retried like a lost
   * connection.
   */
  onSubscribed(first: boolean): Promise<void>;
}

export class FeedListener {
  private readonly opts: FeedListenerOptions;
  private client: pg.Client | null = null;
  private retry: NodeJS.Timeout | null = null;
  private backoffMs = BACKOFF_MIN_MS;
  private subscribedBefore = false;
  private stopped = false;

  constructor(opts: FeedListenerOptions) {
    this.opts = opts;
  }

  /** Connects and subscribes; when that fails, logs it and keeps retrying in the background. */
  async start(): Promise<void> {
    await this.listen().catch((err) => {
      this.opts.log.warn({ err }, 'feed LISTEN connection failed; retrying');
      this.scheduleListen();
    });
  }

  private async listen(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ ...this.opts.db.options, application_name: 'damm-feed-listen', keepAlive: true });
    client.on('notification', (msg) => {
      if (msg.channel !== FEED_CHANNEL) return;
      const head = Number(msg.payload);
      if (Number.isSafeInteger(head)) this.opts.onHead(head);
    });
    // Every error (a failed connect, the server restarting, a dropped socket)
    // lands here and nowhere else: an 'error' event without a listener would
    // end the process. Later errors of the same dead client are ignored.
    let lost = false;
    client.on('error', (err) => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = null;
      if (!this.stopped) this.opts.log.warn({ err, retryInMs: this.backoffMs }, 'feed LISTEN connection lost; reconnecting');
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
    this.client = client;
    this.backoffMs = BACKOFF_MIN_MS;
    const first = !this.subscribedBefore;
    this.subscribedBefore = true;
    await this.opts.onSubscribed(first);
  }

  private scheduleListen(): void {
    if (this.stopped || this.retry) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.retry = setTimeout(() => {
      this.retry = null;
      this.listen().catch((err: unknown) => {
        this.opts.log.debug({ err }, 'feed LISTEN reconnect failed');
        this.scheduleListen();
      });
    }, delay);
    this.retry.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => {});
  }
}
