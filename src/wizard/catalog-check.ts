/**
 * The service check the page runs BEFORE it enrolls anything (docs/wizard.md,
 * "Verify first"), through the same trust path every DAMM client runs
 * (src/client/trust-client.ts: startPinnedTrust, TrustClient; core's
 * trustRoot, walkRootChain and verifyCatalog), with a store that lives in
 * this page's memory only:
 *
 *   1. the pin, the sha256 of root v1: from the invite link's fragment
 *      (`#root=…`, put there by the operator's invite and never sent to any
 *      server) or, without one, from GET /v1/trust: trust on first use from
 *      this very server, which the page says above its button;
 *   2. root v1 from /v1/trust/root/1.json, accepted only if its bytes hash to
 *      the pin and it carries a threshold of its own root keys;
 *   3. roots 2 .. the latest (GET /v1/trust/root.json names it), walked one
 *      version at a time; a chain longer than MAX_ROOT_WALK is refused, not
 *      cut short (the page keeps nothing to go on from next time); the final
 *      root must not be expired;
 *   4. the catalog: a threshold of the catalog keys that root certifies and
 *      that are valid now, unexpired, exactly the catalog's shape.
 *
 * The outcome names WHICH step failed, so the page can say in words what
 * happened and what to do; a failure to load anything is told apart from a
 * failure to verify (then nothing was checked, and a retry may help).
 */
import type { FrontDoor } from '../core/api-schemas.js';
import { isDammError } from '../core/errors.js';
import { claimedRootVersion } from '../core/trust/pin.js';
import { MAX_ROOT_WALK } from '../core/trust/root.js';
import { isPinMismatch, memoryTrustStore, startPinnedTrust, type TrustFetcher } from '../client/trust-client.js';
import { api } from './api.js';
import type { RootPin } from './invite.js';

/** Where the pin came from: the invite link (out of band) or the server being checked (trust on first use). */
export type PinSource = 'invite' | 'server';

/**
 * Why the service could not be trusted, one sentence each in problems.ts:
 * - pin_malformed: the link's `#root=` is not 64 hex digits (cut off);
 * - pin_mismatch: root v1 served here is not the one the link pins;
 * - root_invalid: the root chain does not verify (or the latest root expired);
 * - catalog_invalid: the catalog's signature, signers or shape do not verify;
 * - catalog_expired: a genuine catalog past its expiry (a replay, or a stuck signer);
 * - unavailable: something could not be loaded, so nothing was checked (`cause` says why).
 */
export type TrustFailure = 'pin_malformed' | 'pin_mismatch' | 'root_invalid' | 'catalog_invalid' | 'catalog_expired' | 'unavailable';

export type CatalogCheck =
  | { ok: true; pinnedBy: PinSource; rootVersion: number; version: number; issuedAt: string; expiresAt: string; frontDoors: FrontDoor[] }
  | { ok: false; pinnedBy: PinSource; failure: TrustFailure; reason: string; cause?: unknown };

/**
 * The service's roots as the trust client asks for them. The latest comes
 * from GET /v1/trust/root.json, the ones before it by version: asking past
 * the end instead would be a 404, which the browser logs as a console error
 * on every visit. Where the chain ends is the server's word either way;
 * every root it hands over is still verified.
 */
function pageFetcher(): TrustFetcher {
  let latest: Promise<{ version: number; envelope: unknown }> | null = null;
  const getLatest = () => (latest ??= api.latestRoot().then((envelope) => ({ version: claimedRootVersion(envelope) ?? 1, envelope })));
  return {
    async fetchRoot(version) {
      if (version === 1) return api.root(1);
      const l = await getLatest();
      if (version > l.version) return null;
      return version === l.version ? l.envelope : api.root(version);
    },
    fetchCatalog: () => api.catalog(),
  };
}

const message = (err: unknown) => (err instanceof Error ? err.message : 'unknown problem');
const reasonOf = (err: unknown) => (isDammError(err) ? (err.details as { reason?: string } | undefined)?.reason : undefined);

/** Never throws: every outcome, a failure to load included, is a CatalogCheck. */
export async function checkCatalog(pin: RootPin, now?: () => Date): Promise<CatalogCheck> {
  const pinnedBy: PinSource = pin === null ? 'server' : 'invite';
  const fail = (failure: TrustFailure, err: unknown): CatalogCheck => ({ ok: false, pinnedBy, failure, reason: message(err), cause: err });
  if (pin !== null && 'malformed' in pin) {
    return { ok: false, pinnedBy, failure: 'pin_malformed', reason: 'the root-of-trust pin in your link is not a 64-character sha256; the link may be cut off' };
  }
  let sha256: string;
  try {
    sha256 = pin === null ? (await api.trust()).rootV1Sha256 : pin.sha256;
  } catch (err) {
    return fail('unavailable', err);
  }
  const fetcher = pageFetcher();
  let started;
  try {
    started = await startPinnedTrust({
      store: memoryTrustStore(),
      where: 'this page',
      savedPin: null,
      pin: { sha256 },
      fetcher,
      maxRootWalk: MAX_ROOT_WALK,
      walkMustFinish: true,
      ...(now ? { clock: now } : {}),
    });
  } catch (err) {
    if (reasonOf(err) === 'root_unavailable') return fail('unavailable', (err as Error).cause ?? err);
    // Only a pin from the link can be the wrong one; a server whose root v1 does not match its own /v1/trust is simply not verifiable.
    return fail(pinnedBy === 'invite' && isPinMismatch(err) ? 'pin_mismatch' : 'root_invalid', err);
  }
  if (!started) return { ok: false, pinnedBy, failure: 'pin_malformed', reason: 'no pin' }; // unreachable: a pin was given
  const { client } = started;
  let root;
  try {
    root = (await client.updateRoot()).root;
  } catch (err) {
    return fail(isDammError(err) ? 'root_invalid' : 'unavailable', err);
  }
  try {
    const c = await client.refreshCatalog();
    return { ok: true, pinnedBy, rootVersion: root.version, version: c.version, issuedAt: c.catalog.issuedAt, expiresAt: c.catalog.expiresAt, frontDoors: c.catalog.frontDoors };
  } catch (err) {
    if (!isDammError(err)) return fail('unavailable', err);
    return fail(err.code === 'catalog_expired' ? 'catalog_expired' : 'catalog_invalid', err);
  }
}
