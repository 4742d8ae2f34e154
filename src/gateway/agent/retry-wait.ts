/**
 * How the feed loop waits between failed attempts (docs/gateway.md, "When
 * the control plane is away"): a jittered exponential backoff with a cap,
 * and a wait that ends early when another call to the control plane has
 * just succeeded, so the feed resumes within moments of the control plane's
 * return instead of at the end of its longest wait.
 */

export interface BackoffSettings {
  /** First wait after a failure (default 500 ms). */
  minMs: number;
  /** No wait is longer (default 5000 ms). */
  maxMs: number;
}

export const DEFAULT_FEED_BACKOFF: BackoffSettings = { minMs: 500, maxMs: 5000 };

/** Doubling waits from minMs to maxMs, each drawn in [half, full] of its step ("equal jitter") so restarting gateways spread out. */
export class Backoff {
  private step: number;

  constructor(private readonly s: BackoffSettings = DEFAULT_FEED_BACKOFF, private readonly random: () => number = Math.random) {
    this.step = s.minMs;
  }

  next(): number {
    const ms = this.step / 2 + (this.random() * this.step) / 2;
    this.step = Math.min(this.step * 2, this.s.maxMs);
    return Math.round(ms);
  }

  reset(): void {
    this.step = this.s.minMs;
  }
}

/**
 * Counts successful calls to the control plane; wait() ends at its time, on
 * abort, or at the first success after `since` (a success that came while
 * the failing attempt was still in flight ends the wait at once).
 */
export class ReachableSignal {
  private count = 0;
  private waiters = new Set<() => void>();

  get seen(): number {
    return this.count;
  }

  succeeded(): void {
    this.count++;
    for (const w of [...this.waiters]) w();
  }

  wait(ms: number, signal: AbortSignal, since: number): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted || this.count > since) return resolve();
      const done = (): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }
}
