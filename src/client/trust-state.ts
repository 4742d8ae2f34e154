/**
 * Client-side trusted state: the latest trusted root envelope and the last
 * catalog accepted, kept in one small file in a directory; TrustClient, which
 * walks the root chain and verifies the catalog; and `openPinnedTrust`, the
 * one pinned-root bootstrap every Node client (the CLI's `damm catalog show`,
 * the gateway agent) starts from.
 *
 * Root and catalog state live in ONE file on purpose: a root update that
 * rotates the catalog keys must reset the last-seen catalog (TUF 5.3.11) in
 * the same atomic write, or a crash between two files could pair a new root
 * with an old fast-forwarded version (or the reverse).
 *
 * Writes are crash-safe: write a temp file, fsync it, rename it over the
 * state file, fsync the directory. A crash at any point leaves either the
 * previous state or the new one, never a mixture.
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { fsyncDir, writeNewFileSynced } from '../io/durable-file.js';
import * as path from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64, toHex, utf8 } from '../core/bytes.js';
import { verifyCatalog, type VerifiedCatalog } from '../core/catalog.js';
import type { Envelope } from '../core/envelope.js';
import { DammError, isDammError } from '../core/errors.js';
import {
  assertRootFresh,
  MAX_ROOT_WALK,
  rotatedRoles,
  trustRoot,
  verifyNextRoot,
  type OnlineRole,
  type VerifiedRoot,
} from '../core/trust/root.js';

export const STATE_FILE = 'trust-state.json';
export const STATE_FORMAT = 'damm-trust-state/1';

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

/** The filesystem steps the store needs; injectable so tests can crash it at any step. */
export interface AtomicFs {
  /** Create `file` (must not exist), write all of `data`, fsync, close. */
  writeFileSynced(file: string, data: Uint8Array): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  fsyncDir(dir: string): Promise<void>;
  /** The file's bytes, or null when it does not exist. */
  readFile(file: string): Promise<Uint8Array | null>;
  unlink(file: string): Promise<void>;
  mkdir(dir: string): Promise<void>;
}

export const nodeAtomicFs: AtomicFs = {
  writeFileSynced: (file, data) => writeNewFileSynced(file, data),
  rename: (from, to) => fsp.rename(from, to),
  fsyncDir,
  async readFile(file) {
    try {
      return new Uint8Array(await fsp.readFile(file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  },
  unlink: (file) => fsp.unlink(file),
  async mkdir(dir) {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  },
};

function corrupt(message: string, cause?: unknown): DammError {
  return new DammError('trust_invalid', `Trusted state file is unreadable: ${message}`, {
    details: { reason: 'state_corrupt' },
    ...(cause === undefined ? {} : { cause }),
  });
}

function isEnvelopeShape(v: unknown): v is Envelope {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e.payloadType === 'string' &&
    typeof e.payload === 'string' &&
    Array.isArray(e.signatures) &&
    e.signatures.every((s) => typeof s === 'object' && s !== null && typeof s.keyid === 'string' && typeof s.sig === 'string')
  );
}

function checkState(v: unknown): TrustState {
  if (typeof v !== 'object' || v === null) throw corrupt('not a JSON object.');
  const s = v as Record<string, unknown>;
  if (s.format !== STATE_FORMAT) throw corrupt(`format is not ${STATE_FORMAT}.`);
  if (!isEnvelopeShape(s.root)) throw corrupt('root is not an envelope.');
  let catalog: StoredCatalog | null = null;
  if (s.catalog !== null) {
    const c = s.catalog as Record<string, unknown> | undefined;
    if (
      typeof c !== 'object' ||
      c === null ||
      typeof c.version !== 'number' ||
      !Number.isSafeInteger(c.version) ||
      c.version < 1 ||
      typeof c.payloadSha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(c.payloadSha256) ||
      !isEnvelopeShape(c.envelope)
    ) {
      throw corrupt('catalog must be null or { version, payloadSha256, envelope }.');
    }
    catalog = { version: c.version, payloadSha256: c.payloadSha256, envelope: c.envelope };
  }
  return { root: s.root, catalog };
}

/** Persists TrustState in `<dir>/trust-state.json`, atomically. */
export class TrustStateStore {
  readonly dir: string;
  readonly file: string;
  readonly #fs: AtomicFs;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(dir: string, opts: { fs?: AtomicFs } = {}) {
    this.dir = dir;
    this.file = path.join(dir, STATE_FILE);
    this.#fs = opts.fs ?? nodeAtomicFs;
  }

  /** The saved state, or null when none was ever saved. A damaged file is an error, never a silent reset (that would undo rollback protection). */
  async load(): Promise<TrustState | null> {
    const bytes = await this.#fs.readFile(this.file);
    if (bytes === null) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(utf8.decode(bytes));
    } catch (cause) {
      throw corrupt('not valid JSON.', cause);
    }
    return checkState(parsed);
  }

  /** Replaces the state: temp file + fsync, rename over the old one, fsync the directory. Saves are serialised. */
  save(state: TrustState): Promise<void> {
    const run = this.#chain.then(() => this.#save(state));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #save(state: TrustState): Promise<void> {
    const checked = checkState({ format: STATE_FORMAT, ...state });
    const bytes = utf8.encode(`${JSON.stringify({ format: STATE_FORMAT, root: checked.root, catalog: checked.catalog })}\n`);
    const tmp = `${this.file}.tmp-${randomBytes(8).toString('hex')}`;
    try {
      await this.#fs.mkdir(this.dir);
      try {
        await this.#fs.writeFileSynced(tmp, bytes);
        await this.#fs.rename(tmp, this.file);
      } catch (err) {
        await this.#fs.unlink(tmp).catch(() => undefined);
        throw err;
      }
      await this.#fs.fsyncDir(this.dir);
    } catch (cause) {
      throw new DammError('store_unavailable', `Could not persist trusted state in ${this.dir}; the previous state is intact.`, { cause });
    }
  }
}

// ---------------------------------------------------------------------------
// TrustClient

export interface TrustFetcher {
  /** The root envelope published as `root/{version}.json`, or null when that version does not exist (end of the chain). */
  fetchRoot(version: number): Promise<unknown | null>;
  /** The current catalog envelope. */
  fetchCatalog(): Promise<unknown>;
}

export interface TrustClientOptions {
  store: TrustStateStore;
  fetcher: TrustFetcher;
  /** Initial root, trusted out of band (shipped, or printed by `damm init`); used only when the store is empty. */
  bootstrapRoot: unknown;
  /** Optional sha256 (hex) the bootstrap root's payload must match. */
  bootstrapSha256?: string;
  clock?: () => Date;
  maxRootWalk?: number;
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
      // The file is local and trusted, but its root still has to carry its own threshold.
      this.#state = { root: trustRoot(saved.root), catalog: saved.catalog, persisted: true };
    } else {
      const opts = this.#opts.bootstrapSha256 === undefined ? {} : { pinnedSha256: this.#opts.bootstrapSha256 };
      this.#state = { root: trustRoot(this.#opts.bootstrapRoot, opts), catalog: null, persisted: false };
    }
    return this.#state;
  }

  async #persist(next: Loaded): Promise<void> {
    await this.#opts.store.save({ root: next.root.envelope, catalog: next.catalog });
    this.#state = { ...next, persisted: true }; // memory follows disk only after the write succeeded
  }

  /** The currently trusted root (no network). */
  currentRoot(): Promise<VerifiedRoot> {
    return this.#exclusive(async () => (await this.#load()).root);
  }

  /** Walks root N+1, N+2, ... (TUF 5.3) until the chain ends, persisting progress even if a later step fails. */
  updateRoot(): Promise<RootRefresh> {
    return this.#exclusive(() => this.#updateRoot());
  }

  async #updateRoot(): Promise<RootRefresh> {
    const now = this.#clock();
    const start = await this.#load();
    const maxWalk = this.#opts.maxRootWalk ?? MAX_ROOT_WALK;
    let current = start.root;
    let catalog = start.catalog;
    let walked = 0;
    const rotated = new Set<OnlineRole>();
    let failure: unknown;
    try {
      while (walked < maxWalk) {
        const candidate = await this.#opts.fetcher.fetchRoot(current.version + 1); // 5.3.2
        if (candidate === null || candidate === undefined) break;
        const next = verifyNextRoot(current, candidate); // 5.3.3-5.3.4
        for (const role of rotatedRoles(current, next)) {
          rotated.add(role);
          if (role === 'catalog') catalog = null; // 5.3.11 fast-forward recovery
        }
        current = next; // 5.3.6
        walked++;
      }
    } catch (err) {
      failure = err;
    }
    // 5.3.7: keep verified progress (a later bad version must not undo a key revocation in an earlier one).
    if (walked > 0 || !start.persisted) await this.#persist({ root: current, catalog, persisted: true });
    if (failure !== undefined) throw failure;
    assertRootFresh(current, now); // 5.3.10
    return { root: current, walked, rotatedRoles: [...rotated] };
  }

  /** Updates the root chain, then fetches, verifies and records the catalog. */
  refresh(): Promise<VerifiedCatalog> {
    return this.#exclusive(async () => {
      await this.#updateRoot();
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
    });
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

/** Next to trust-state.json: the pin this state directory was started from, so a later run with another pin is refused, not ignored. */
export const PIN_FILE = 'root-v1.sha256';
const HEX64 = /^[0-9a-f]{64}$/;

export interface RootPin {
  /** sha256 (hex) of root v1's payload, as `damm init` and `damm keys status` print it. */
  sha256?: string;
  /** A root envelope delivered out of band (`damm keys export-root 1`); trusted as given (and must match `sha256` when both are set). */
  rootEnvelope?: unknown;
}

/** A pin as the operator typed it: 64 hex digits, any case, surrounding blanks ignored. `from` names where it came from in the error. */
export function checkRootSha256(value: string, from: string): string {
  const t = value.trim().toLowerCase();
  if (!HEX64.test(t)) throw new DammError('invalid_argument', `${from} must be the 64-hex-digit sha256 of root v1 ("damm init" and "damm keys status" print it), got "${value.slice(0, 80)}".`);
  return t;
}

function rootFileSha256(envelope: unknown): string {
  const p = (envelope as { payload?: unknown } | null)?.payload;
  const bytes = typeof p === 'string' ? fromBase64(p) : null;
  if (!bytes) throw new DammError('trust_invalid', 'The root file is not a root envelope (no base64 payload).', { details: { reason: 'root_file_invalid' } });
  return toHex(sha256(bytes));
}

async function readPinFile(dir: string): Promise<string | null> {
  try {
    return (await fsp.readFile(path.join(dir, PIN_FILE), 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface PinnedTrustOptions {
  /** The state directory (trust-state.json and root-v1.sha256 live here). */
  dir: string;
  pin: RootPin;
  fetcher: TrustFetcher;
  clock?: () => Date;
  graceSeconds?: number;
}

export interface OpenedTrust {
  client: TrustClient;
  /** The root this directory trusts now (before any update walk). */
  root: VerifiedRoot;
  /** The pin this directory was started from (null: an older directory without the pin file). */
  pin: string | null;
}

/**
 * The one way a Node client comes to trust a root. Trust starts from root v1
 * and its sha256, given by the operator (never taken from the control plane
 * being checked), or from a saved state directory:
 *   - a root file and a sha256 must agree;
 *   - a state directory started from one pin refuses another (reason
 *     pin_mismatch); a run with no pin keeps using the saved state (a pin
 *     cannot be dropped by forgetting a flag);
 *   - root v1 fetched from the service counts only if its bytes hash to the
 *     pin (core's trustRoot), and only then is the pin file written.
 * Returns null when no pin is given and nothing was saved: the caller decides
 * whether that is an error (the CLI) or a documented fallback (the agent).
 * Errors are core's DammErrors, for the caller to put in its own words.
 */
export async function openPinnedTrust(o: PinnedTrustOptions): Promise<OpenedTrust | null> {
  const store = new TrustStateStore(o.dir);
  const saved = await store.load();
  const savedPin = await readPinFile(o.dir);
  let anchor = o.pin.sha256 === undefined || o.pin.sha256 === '' ? undefined : checkRootSha256(o.pin.sha256, '--root-sha256');
  if (o.pin.rootEnvelope !== undefined) {
    const fileSha = rootFileSha256(o.pin.rootEnvelope);
    if (anchor !== undefined && anchor !== fileSha) {
      throw new DammError('trust_invalid', `The root file's sha256 is ${fileSha}, not the pinned ${anchor}`, { details: { reason: 'pin_mismatch' } });
    }
    anchor = fileSha;
  }
  if (!saved && anchor === undefined) return null;
  if (saved && savedPin !== null && anchor !== undefined && savedPin !== anchor) {
    throw new DammError('trust_invalid', `${o.dir} trusts the root chain that starts at root v1 ${savedPin}, not ${anchor}`, { details: { reason: 'pin_mismatch', savedPin } });
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
    store,
    fetcher: o.fetcher,
    bootstrapRoot: bootstrap,
    ...(saved || anchor === undefined ? {} : { bootstrapSha256: anchor }),
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.graceSeconds === undefined ? {} : { graceSeconds: o.graceSeconds }),
  });
  const root = await client.currentRoot(); // checks the pin against root v1 when this directory is new
  if (savedPin === null && anchor !== undefined && !saved) {
    await fsp.mkdir(o.dir, { recursive: true, mode: 0o700 });
    await fsp.writeFile(path.join(o.dir, PIN_FILE), `${anchor}\n`, { mode: 0o600 });
  }
  return { client, root, pin: savedPin ?? anchor ?? null };
}

/** True for the refusal openPinnedTrust gives when a pin does not match (given vs saved, or root v1's bytes). */
export function isPinMismatch(err: unknown): boolean {
  return isDammError(err) && (err.details as { reason?: string } | undefined)?.reason === 'pin_mismatch';
}
