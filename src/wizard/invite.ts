/**
 * Invites arrive in the link (`/get/?invite=…` or `#invite=…`) or pasted by
 * hand. Operators' invite links also carry the root-of-trust pin in the
 * fragment (`#root=<sha256 of root v1>`): a fragment is never sent to any
 * server, so the pin reaches this page without passing through the service
 * it is meant to check.
 */
import { PASS_TOKEN_PATTERN } from '../core/format-checks.js';
import { parseRootSha256 } from '../core/trust/pin.js';

const PASS_TOKEN = new RegExp(PASS_TOKEN_PATTERN);

export type InviteInput = { token: string } | { malformed: true } | null;

/** Accepts a whole invite link or the bare code; null when nothing was given. */
export function parseInvite(text: string): InviteInput {
  const t = text.trim();
  if (!t) return null;
  let candidate = t;
  const m = /[?#&]invite=([^&#\s]*)/.exec(t);
  if (m) {
    try {
      candidate = decodeURIComponent(m[1]!);
    } catch {
      return { malformed: true };
    }
  }
  return PASS_TOKEN.test(candidate) ? { token: candidate } : { malformed: true };
}

/**
 * Reads the invite from this page's address, then removes it from the
 * address bar and history so it is not shared, bookmarked or shown by accident.
 */
export function takeInviteFromLocation(loc: Location, hist: History): InviteInput {
  const fromQuery = new URLSearchParams(loc.search).get('invite');
  const fromHash = new URLSearchParams(loc.hash.slice(1)).get('invite');
  const raw = fromQuery ?? fromHash;
  if (raw === null) return null;
  hist.replaceState(null, '', loc.pathname);
  return PASS_TOKEN.test(raw) ? { token: raw } : { malformed: true };
}

/** The pin from a link's fragment: 64 hex (lowercased), malformed when `root=` is there but is not that, null when absent. */
export type RootPin = { sha256: string } | { malformed: true } | null;

/** The same spelling rule as the CLI's --root-sha256 (core's parseRootSha256). */
export function parseRootPin(hash: string): RootPin {
  const raw = new URLSearchParams(hash.replace(/^#/, '')).get('root');
  if (raw === null) return null;
  const sha256 = parseRootSha256(raw);
  return sha256 === null ? { malformed: true } : { sha256 };
}

/** Reads the pin from this page's address; call before takeInviteFromLocation, which clears the fragment with the invite. */
export function rootPinFromLocation(loc: Location): RootPin {
  return parseRootPin(loc.hash);
}
