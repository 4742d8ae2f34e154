/**
 * Catalog freshness, verified in this page against the service's root of
 * trust (docs/trust.md, "Pinning in clients"):
 *
 *   1. a pin, the sha256 of root v1: from the invite link's fragment
 *      (`#root=…`, put there by the operator's invite and never sent to any
 *      server) or, without one, from GET /v1/trust: trust on first use from
 *      this very server, which the panel says in words;
 *   2. root v1 from /v1/trust/root/1.json, accepted only if it matches the
 *      pin and carries a threshold of its own root keys (core's trustRoot);
 *   3. roots 2 .. the latest (GET /v1/trust/root.json; at most MAX_ROOT_WALK), walked one version
 *      at a time with core's verifyRootChain (the same steps the CLI and
 *      gateways take); the final root must not be expired;
 *   4. the catalog with core's verifyCatalog (the one catalog verifier, the
 *      same function the CLI runs): a threshold of the catalog keys that
 *      root certifies and that are valid now, unexpired, exactly the
 *      catalog's shape.
 *
 * The verified front doors are kept: the page renders a device config only
 * from a door of this verified catalog (core/door-binding.ts).
 *
 * Only the pin's source differs between the two cases: with the link's pin a
 * server that hands out a different root is caught; without it the page can
 * only prove that the catalog matches the root this server publishes.
 */
import type { FrontDoor } from '../core/api-schemas.js';
import { verifyCatalog } from '../core/catalog.js';
import { MAX_ROOT_WALK, trustRoot, verifyRootChain } from '../core/trust/root.js';
import { api } from './api.js';
import type { RootPin } from './invite.js';

/** Where the pin came from: the invite link (out of band) or the server being checked (trust on first use). */
export type PinSource = 'invite' | 'server';

export type CatalogCheck =
  | { ok: true; pinnedBy: PinSource; rootVersion: number; version: number; issuedAt: string; expiresAt: string; frontDoors: FrontDoor[] }
  | { ok: false; pinnedBy: PinSource; reason: string };

/**
 * The version a root envelope claims, read before verification only to know
 * where the chain ends (verifyRootChain then checks every link, this one
 * included); an unreadable claim ends the walk at root v1, which then fails
 * to verify anything signed by later keys.
 */
function claimedVersion(envelope: unknown): number {
  try {
    const v: unknown = (JSON.parse(atob(String((envelope as { payload?: unknown }).payload))) as { version?: unknown }).version;
    return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : 1;
  } catch {
    return 1;
  }
}

/**
 * Roots 2 .. latest: the latest from GET /v1/trust/root.json, the ones before
 * it by version. Asking past the end instead would be a 404, which the
 * browser logs as a console error on every visit; where the chain ends is
 * the server's word either way. At most one more than the walk allows, so an
 * over-long chain is refused rather than cut short.
 */
async function laterRoots(): Promise<unknown[]> {
  const latest = await api.latestRoot();
  const last = claimedVersion(latest);
  const out: unknown[] = [];
  for (let v = 2; v < last && out.length <= MAX_ROOT_WALK; v++) out.push(await api.root(v));
  if (last > 1 && out.length <= MAX_ROOT_WALK) out.push(latest);
  return out;
}

/**
 * Throws (ApiError, NetworkError) when something could not be loaded: then
 * nothing was checked. Resolves `ok: false` when what was loaded did not verify.
 */
export async function checkCatalog(pin: RootPin, now = new Date()): Promise<CatalogCheck> {
  const pinnedBy: PinSource = pin === null ? 'server' : 'invite';
  if (pin !== null && 'malformed' in pin) {
    return { ok: false, pinnedBy, reason: 'the root-of-trust pin in your link is not a 64-character sha256; the link may be cut off' };
  }
  const pinnedSha256 = pin === null ? (await api.trust()).rootV1Sha256 : pin.sha256;
  const [rootV1, later, envelope] = await Promise.all([api.root(1), laterRoots(), api.catalog()]);
  try {
    const root = verifyRootChain(trustRoot(rootV1, { pinnedSha256 }), later, now, { maxWalk: MAX_ROOT_WALK }).root;
    const { catalog } = verifyCatalog(envelope, root, { now });
    return { ok: true, pinnedBy, rootVersion: root.version, version: catalog.version, issuedAt: catalog.issuedAt, expiresAt: catalog.expiresAt, frontDoors: catalog.frontDoors };
  } catch (err) {
    return { ok: false, pinnedBy, reason: err instanceof Error ? err.message : 'unknown problem' };
  }
}
