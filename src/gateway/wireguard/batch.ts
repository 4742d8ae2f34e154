/**
 * Backend-independent machinery (the serial queue is p-queue with
 * concurrency 1, used directly): the batch applier that
 * chunks changes, isolates the peers WireGuard rejects (by bisection, so one
 * bad peer does not block thousands of good ones) and verifies by read-back.
 */
import { DammError } from '../../core/errors.js';
import type { ApplyFailureDetails, ApplySummary, InterfaceState } from './backend.js';
import { peerMatches, peersByKey, type NormalizedPeer } from './peers.js';

/**
 * One peer's change in a backend's wire dialect (UAPI lines, or `wg` config
 * lines). Low level: `lines` are sent as they are, which is how tests inject
 * a line WireGuard refuses. `spec` is what a read-back must show for an upsert.
 */
export type EncodedChange =
  | { action: 'upsert'; publicKey: string; spec: NormalizedPeer; lines: string[] }
  | { action: 'remove'; publicKey: string; lines: string[] };

export type BatchOutcome = { ok: true } | { ok: false; reason: string };

export interface IsolateResult<T> {
  rejected: Array<{ item: T; reason: string }>;
  abandoned: T[];
}

/**
 * Send `items` in chunks of `maxPerRequest`. A rejected chunk is split in two
 * and each half resent (changes are idempotent), down to single items, which
 * pinpoints every culprit in O(log n) requests each. After `maxRejected`
 * culprits the rest is abandoned (a daemon refusing everything must not cost
 * 2n requests). `send` throws for failures that are not a rejection
 * (timeout, daemon unreachable): those abort the whole batch.
 */
export async function sendIsolating<T>(
  items: readonly T[],
  send: (batch: T[]) => Promise<BatchOutcome>,
  opts: { maxPerRequest: number; maxRejected: number },
): Promise<IsolateResult<T>> {
  const result: IsolateResult<T> = { rejected: [], abandoned: [] };
  const attempt = async (batch: T[]): Promise<void> => {
    if (result.rejected.length >= opts.maxRejected) {
      result.abandoned.push(...batch);
      return;
    }
    const outcome = await send(batch);
    if (outcome.ok) return;
    if (batch.length === 1) {
      result.rejected.push({ item: batch[0]!, reason: outcome.reason });
      return;
    }
    const mid = Math.ceil(batch.length / 2);
    await attempt(batch.slice(0, mid));
    await attempt(batch.slice(mid));
  };
  for (let i = 0; i < items.length; i += opts.maxPerRequest) {
    await attempt(items.slice(i, i + opts.maxPerRequest));
  }
  return result;
}

export interface ApplyEngine {
  backend: string;
  maxPerRequest: number;
  maxRejected: number;
  sendRemoves(batch: EncodedChange[]): Promise<BatchOutcome>;
  sendUpserts(batch: EncodedChange[]): Promise<BatchOutcome>;
  readBack(): Promise<InterfaceState>;
}

/**
 * Apply encoded changes: removals first (they free allowed IPs), then
 * upserts. On any rejection, read the interface back and throw a DammError
 * whose details say exactly what is and is not in effect.
 */
export async function applyEncoded(engine: ApplyEngine, changes: readonly EncodedChange[]): Promise<ApplySummary> {
  const removes = changes.filter((c) => c.action === 'remove');
  const upserts = changes.filter((c) => c.action === 'upsert');
  const opts = { maxPerRequest: engine.maxPerRequest, maxRejected: engine.maxRejected };
  const r1 = await sendIsolating(removes, (b) => engine.sendRemoves(b), opts);
  const r2 = await sendIsolating(upserts, (b) => engine.sendUpserts(b), {
    ...opts,
    maxRejected: Math.max(0, opts.maxRejected - r1.rejected.length),
  });
  const rejected = [...r1.rejected, ...r2.rejected];
  if (rejected.length === 0 && r1.abandoned.length === 0 && r2.abandoned.length === 0) {
    return { upserted: upserts.length, removed: removes.length };
  }
  // Resynchronise: the truth is what the interface holds now.
  const have = peersByKey(await engine.readBack());
  const inEffect = (c: EncodedChange): boolean =>
    c.action === 'remove' ? !have.has(c.publicKey) : peerMatches(c.spec, have.get(c.publicKey));
  const notApplied = changes.filter((c) => !inEffect(c));
  const details: ApplyFailureDetails = {
    backend: engine.backend,
    rejected: rejected.map(({ item, reason }) => ({ publicKey: item.publicKey, action: item.action, reason })),
    notApplied: notApplied.map((c) => ({ publicKey: c.publicKey, action: c.action })),
    applied: changes.length - notApplied.length,
  };
  const names = details.rejected.slice(0, 3).map((r) => `${r.action} ${r.publicKey} (${r.reason})`).join('; ');
  const more = details.rejected.length > 3 ? ` and ${details.rejected.length - 3} more` : '';
  throw new DammError(
    'internal',
    `WireGuard (${engine.backend}) rejected ${details.rejected.length} of ${changes.length} peer changes: ${names}${more}; ` +
      `${details.notApplied.length} not in effect after read-back.`,
    { details: details as unknown as Record<string, unknown> },
  );
}
