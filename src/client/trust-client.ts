/**
 * The one client-side trust path, for every client: the CLI's `damm catalog
 * show`, the gateway agent and the browser wizard all start from
 * `startPinnedTrust` and verify through `TrustClient`, so the rule "trust
 * starts from the operator's pin, walks the root chain one version at a
 * time, and accepts a catalog only if the latest root certifies its
 * signers" cannot drift between them (docs/trust.md, "Pinning in clients").
 *
 * This module does no I/O of its own and imports no Node built-in: the
 * store (a file for Node clients, src/client/trust-state.ts; memory for the
 * page) and the fetcher (HTTP) are passed in. The rules themselves are
 * core's: `trustRoot` checks the pin, `walkRootChain` walks, `verifyCatalog`
 * verifies.
 */
import type { VerifiedCatalog } from '../core/catalog.js';
import { verifyCatalog } from '../core/catalog.js';
import type { Envelope } from '../core/envelope.js';
import { DammError, isDammError } from '../core/errors.js';
import { checkRootSha256, envelopePayloadSha256 } from '../core/trust/pin.js';
import { assertRootFresh, MAX_ROOT_WALK, trustRoot, walkRootChain, type OnlineRole, type VerifiedRoot } from '../core/trust/root.js';

export interface StoredCatalog {
  version: number;
  payloadSha256: string;
  /** The accepted catalog envelope, so a client can keep using it (within expiry/grace) while offline. */
  envelope: Envelope;
}

export interface TrustState {
  root: Envelope;
  catalog: StoredCatalog | null;
}

/**
 * Where a client keeps its trusted state. Root and catalog are saved in ONE
 * write on purpose: a root update that rotates the catalog keys must reset
 * the last-seen catalog (TUF 5.3.11) atomically with the new root.
 */
export interface TrustStore {
  /** The saved state, or null when none was ever saved. */
  load(): Promise<TrustState | null>;
  save(state: TrustState): Promise<void>;
}

/** A store that keeps nothing beyond the life of the process (the wizard page: it keeps nothing between visits). */
export function memoryTrustStore(): TrustStore {
  let state: TrustState | null = null;
  return {
    load: async () => state,
    save: async (s) => {
      state = { root: s.root, catalog: s.catalog };
    },
  };
}

export interface TrustFetcher {
  /** The root envelope published as `root/{version}.json`, or null when that version does not exist (end of the chain). */
  fetchRoot(version: number): Promise<unknown | null>;
  /** The current catalog envelope. */
  fetchCatalog(): Promise<unknown>;
}

export interface TrustClientOptions {
  store: TrustStore;
  fetcher: TrustFetcher;
  /** Initial root, trusted out of band (shipped, or printed by `damm init`); used only when the store is empty. */
  bootstrapRoot: unknown;
  /** Optional sha256 (hex) the bootstrap root's payload must match. */
  bootstrapSha256?: string;
  clock?: () => Date;
  maxRootWalk?: number;
  /**
   * Refuse a chain longer than maxRootWalk instead of walking part of it and
   * going on from there next time: for a client that keeps nothing between
   * runs (the page), which would otherwise never reach the end.
   */
  walkMustFinish?: boolean;
  graceSeconds?: number;
}

export interface RootRefresh {
  root: VerifiedRoot;
  /** How many versions were walked in this update. */
  walked: number;
  rotatedRoles: OnlineRole[];
}

interface Loaded {
  root: VerifiedRoot;
  catalog: StoredCatalog | null;
  persisted: boolean;
}

export class TrustClient {
  readonly #opts: TrustClientOptions;
  readonly #clock: () => Date;
  #state: Loaded | null = null;
  #lock: Promise<unknown> = Promise.resolve();

  constructor(opts: TrustClientOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? (() => new Date());
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  async #load(): Promise<Loaded> {
    if (this.#state) return this.#state;
    const saved = await this.#opts.store.load();
    if (saved) {
      // The saved state is local and trusted, but its root still has to carry its own threshold.
      this.#state = { root: trustRoot(saved.root), catalog: saved.catalog, persisted: true };
    } else {
      const opts = this.#opts.bootstrapSha256 === undefined ? {} : { pinnedSha256: this.#opts.bootstrapSha256 };
      this.#state = { root: trustRoot(this.#opts.bootstrapRoot, opts), catalog: null, persisted: false };
    }
    return this.#state;
  }

  async #persist(next: Loaded): Promise<void> {
    await this.#opts.store.save({ root: next.root.envelope, catalog: next.catalog });
    this.#state = { ...next, persisted: true }; // memory follows the store only after the write succeeded
  }

  /** The currently trusted root (no network). */
  currentRoot(): Promise<VerifiedRoot> {
    return this.#exclusive(async () => (await this.#load()).root);
  }

  /** Walks root N+1, N+2, ... (TUF 5.3) until the chain ends, keeping verified progress even if a later step fails. */
  updateRoot(): Promise<RootRefresh> {
    return this.#exclusive(() => this.#updateRoot());
  }

  async #updateRoot(): Promise<RootRefresh> {
    const now = this.#clock();
    const start = await this.#load();
    const maxWalk = this.#opts.maxRootWalk ?? MAX_ROOT_WALK;
    // 5.3.2: N+1, N+2, ... until the end of the chain (one more than the walk allows when it must finish, so that is refused, not cut short).
    const limit = maxWalk + (this.#opts.walkMustFinish ? 1 : 0);
    const candidates: unknown[] = [];
    let fetchFailure: unknown = null;
    for (let v = start.root.version + 1; candidates.length < limit; v++) {
      try {
        const candidate = await this.#opts.fetcher.fetchRoot(v);
        if (candidate === null || candidate === undefined) break;
        candidates.push(candidate);
      } catch (err) {
        fetchFailure = err;
        break;
      }
    }
    // 5.3.3-5.3.9: core's one walk.
    const walk = walkRootChain(start.root, candidates, { maxWalk });
    const catalog = walk.rotatedRoles.includes('catalog') ? null : start.catalog; // 5.3.11 fast-forward recovery
    // 5.3.7: keep verified progress (a later bad version must not undo a key revocation in an earlier one).
    if (walk.walked.length > 0 || !start.persisted) await this.#persist({ root: walk.root, catalog, persisted: true });
    const failure = walk.failure ?? fetchFailure;
    if (failure !== null) throw failure;
    assertRootFresh(walk.root, now); // 5.3.10
    return { root: walk.root, walked: walk.walked.length, rotatedRoles: walk.rotatedRoles };
  }

  /** Updates the root chain, then fetches, verifies and records the catalog. */
  refresh(): Promise<VerifiedCatalog> {
    return this.#exclusive(async () => {
      await this.#updateRoot();
      return this.#refreshCatalog();
    });
  }

  /**
   * Fetches, verifies and records the catalog against the root trusted now,
   * without walking the chain first: for a client that just called
   * updateRoot() and must tell a root failure from a catalog failure.
   */
  refreshCatalog(): Promise<VerifiedCatalog> {
    return this.#exclusive(() => this.#refreshCatalog());
  }

  async #refreshCatalog(): Promise<VerifiedCatalog> {
    const state = await this.#load();
    const envelope = await this.#opts.fetcher.fetchCatalog();
    const result = this.#verifyCatalog(envelope, state);
    if (state.catalog?.payloadSha256 !== result.payloadSha256) {
      await this.#persist({
        ...state,
        catalog: { version: result.version, payloadSha256: result.payloadSha256, envelope: envelope as Envelope },
      });
    }
    return result;
  }

  /** The last accepted catalog re-verified at the current time (expiry and grace apply), or null if none. No network. */
  cachedCatalog(): Promise<VerifiedCatalog | null> {
    return this.#exclusive(async () => {
      const state = await this.#load();
      return state.catalog ? this.#verifyCatalog(state.catalog.envelope, state) : null;
    });
  }

  #verifyCatalog(envelope: unknown, state: Loaded): VerifiedCatalog {
    return verifyCatalog(envelope, state.root, {
      now: this.#clock(),
      lastSeen: state.catalog ? { version: state.catalog.version, payloadSha256: state.catalog.payloadSha256 } : null,
      ...(this.#opts.graceSeconds === undefined ? {} : { graceSeconds: this.#opts.graceSeconds }),
    });
  }
}

// ---------------------------------------------------------------------------
// The pinned-root bootstrap (docs/trust.md, "Pinning in clients")

export interface RootPin {
  /** sha256 (hex) of root v1's payload, as `damm init` and `damm keys status` print it. */
  sha256?: string;
  /** A root envelope delivered out of band (`damm keys export-root 1`); trusted as given (and must match `sha256` when both are set). */
  rootEnvelope?: unknown;
}

export interface StartTrustOptions {
  store: TrustStore;
  /** Names the store in a refusal ("/var/lib/damm/trust", "this page"). */
  where: string;
  /** The pin the store was started from, when the client records it (null: none recorded). */
  savedPin: string | null;
  pin: RootPin;
  fetcher: TrustFetcher;
  clock?: () => Date;
  graceSeconds?: number;
  maxRootWalk?: number;
  walkMustFinish?: boolean;
}

export interface StartedTrust {
  client: TrustClient;
  /** The root the store trusts now (before any update walk). */
  root: VerifiedRoot;
  /** The pin that was given (null: none, and the saved state was used). */
  anchor: string | null;
  /** True when the store held nothing and trust was bootstrapped from the pin now. */
  bootstrapped: boolean;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The one way a client comes to trust a root. Trust starts from root v1 and
 * its sha256, given by the operator (never taken from the service being
 * checked), or from a saved state:
 *   - a root file and a sha256 must agree;
 *   - a state started from one pin refuses another (reason pin_mismatch); a
 *     run with no pin keeps using the saved state (a pin cannot be dropped by
 *     forgetting a flag);
 *   - root v1 fetched from the service counts only if its bytes hash to the
 *     pin (core's trustRoot, reason pin_mismatch).
 * Returns null when no pin is given and nothing was saved: the caller decides
 * whether that is an error (the CLI) or a documented fallback (the agent).
 * Errors are core's DammErrors (a fetch failure: reason root_unavailable,
 * with the fetcher's error as cause), for the caller to put in its own words.
 */
export async function startPinnedTrust(o: StartTrustOptions): Promise<StartedTrust | null> {
  const saved = await o.store.load();
  let anchor = o.pin.sha256 === undefined || o.pin.sha256 === '' ? undefined : checkRootSha256(o.pin.sha256, '--root-sha256');
  if (o.pin.rootEnvelope !== undefined) {
    const fileSha = envelopePayloadSha256(o.pin.rootEnvelope);
    if (fileSha === null) throw new DammError('trust_invalid', 'The root file is not a root envelope (no base64 payload).', { details: { reason: 'root_file_invalid' } });
    if (anchor !== undefined && anchor !== fileSha) {
      throw new DammError('trust_invalid', `The root file's sha256 is ${fileSha}, not the pinned ${anchor}`, { details: { reason: 'pin_mismatch' } });
    }
    anchor = fileSha;
  }
  if (!saved && anchor === undefined) return null;
  if (saved && o.savedPin !== null && anchor !== undefined && o.savedPin !== anchor) {
    throw new DammError('trust_invalid', `${o.where} trusts the root chain that starts at root v1 ${o.savedPin}, not ${anchor}`, { details: { reason: 'pin_mismatch', savedPin: o.savedPin } });
  }
  let bootstrap: unknown = o.pin.rootEnvelope ?? null;
  if (!saved && o.pin.rootEnvelope === undefined) {
    try {
      bootstrap = await o.fetcher.fetchRoot(1);
    } catch (err) {
      throw new DammError('trust_invalid', `Cannot fetch root v1 to check it against the pin (${errText(err)})`, { details: { reason: 'root_unavailable' }, cause: err });
    }
    if (bootstrap === null) throw new DammError('trust_invalid', 'The control plane publishes no root v1 (GET /v1/trust/root/1.json is 404)', { details: { reason: 'root_unavailable' } });
  }
  const client = new TrustClient({
    store: o.store,
    fetcher: o.fetcher,
    bootstrapRoot: bootstrap,
    ...(saved || anchor === undefined ? {} : { bootstrapSha256: anchor }),
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.graceSeconds === undefined ? {} : { graceSeconds: o.graceSeconds }),
    ...(o.maxRootWalk === undefined ? {} : { maxRootWalk: o.maxRootWalk }),
    ...(o.walkMustFinish ? { walkMustFinish: true } : {}),
  });
  const root = await client.currentRoot(); // checks the pin against root v1 when the store is new
  return { client, root, anchor: anchor ?? null, bootstrapped: !saved };
}

/** True for the refusal startPinnedTrust gives when a pin does not match (given vs saved, or root v1's bytes). */
export function isPinMismatch(err: unknown): boolean {
  return isDammError(err) && (err.details as { reason?: string } | undefined)?.reason === 'pin_mismatch';
}
