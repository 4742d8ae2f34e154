/**
 * Time rules shared by every trust check. Nothing here reads a clock: callers
 * pass `now`, so expiry is tested with a controllable clock, never with sleeps.
 *
 * Clock-skew rule (documented in docs/trust.md):
 * - Things that START (a document's issuedAt, a key's or record's notBefore)
 *   are accepted up to MAX_CLOCK_SKEW_SECONDS ahead of the client's clock, so
 *   a client whose clock runs a few minutes slow still accepts fresh material.
 * - Things that END (expiresAt, notAfter) get no allowance: an end is the
 *   security boundary (a leaked key stops counting, a frozen catalog stops
 *   being served), and widening it would widen it for every client. A client
 *   whose clock runs fast sees expiry early; the catalog grace period, not a
 *   skew allowance, is the documented answer to that.
 */
import { DammError, type ErrorCode } from '../errors.js';

export const MAX_CLOCK_SKEW_SECONDS = 300;
export const MAX_CLOCK_SKEW_MS = MAX_CLOCK_SKEW_SECONDS * 1000;

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3})?Z$/;

/** Strict RFC 3339 UTC timestamp ("...Z", optional milliseconds) that names a real instant. */
export function parseTimestamp(value: unknown, field: string, code: ErrorCode): Date {
  if (typeof value !== 'string' || !ISO_UTC.test(value)) {
    throw new DammError(code, `${field} must be a UTC timestamp like 2026-01-31T12:00:00Z.`);
  }
  const d = new Date(value);
  const iso = Number.isNaN(d.getTime()) ? '' : d.toISOString();
  // Date.parse rolls 2026-02-30 over to March; the round trip refuses such dates.
  if (iso !== value && iso.replace(/\.000Z$/, 'Z') !== value) {
    throw new DammError(code, `${field} is not a real date and time.`);
  }
  return d;
}

export function formatTimestamp(d: Date): string {
  return d.toISOString();
}

export function checkNow(now: unknown): Date {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
    throw new DammError('invalid_argument', 'now must be a valid Date.');
  }
  return now;
}

/** notBefore (with skew allowance) <= now < notAfter (none). Missing bounds are open. */
export function withinWindow(now: Date, notBefore: Date | undefined, notAfter: Date | undefined): boolean {
  const t = now.getTime();
  if (notBefore && notBefore.getTime() > t + MAX_CLOCK_SKEW_MS) return false;
  if (notAfter && t >= notAfter.getTime()) return false;
  return true;
}
