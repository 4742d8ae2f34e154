/**
 * Node clients' trusted state: the latest trusted root envelope and the last
 * catalog accepted, kept in one small file in a directory
 * (TrustStateStore), and `openPinnedTrust`, the pinned-root bootstrap the
 * CLI's `damm catalog show` and the gateway agent start from. The trust path
 * itself (TrustClient, startPinnedTrust) is ./trust-client.ts, the same
 * module the browser wizard runs; this file only adds the filesystem.
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
import * as path from 'node:path';
import { fsyncDir, writeNewFileSynced } from '../io/durable-file.js';
import { utf8 } from '../core/bytes.js';
import type { Envelope } from '../core/envelope.js';
import { DammError } from '../core/errors.js';
import type { VerifiedRoot } from '../core/trust/root.js';
import { startPinnedTrust, type RootPin, type StoredCatalog, type TrustClient, type TrustFetcher, type TrustState, type TrustStore } from './trust-client.js';

export * from './trust-client.js';
export { checkRootSha256 } from '../core/trust/pin.js';

export const STATE_FILE = 'trust-state.json';
export const STATE_FORMAT = 'damm-trust-state/1';

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
export class TrustStateStore implements TrustStore {
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
// The pinned-root bootstrap with a state directory (docs/trust.md, "Pinning in clients")

/** Next to trust-state.json: the pin this state directory was started from, so a later run with another pin is refused, not ignored. */
export const PIN_FILE = 'root-v1.sha256';

async function readPinFile(dir: string): Promise<string | null> {
  try {
    return (await fsp.readFile(path.join(dir, PIN_FILE), 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
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
 * startPinnedTrust (./trust-client.ts, the rules every client shares) over a
 * state directory: the saved pin comes from `root-v1.sha256`, which is
 * written only after root v1 matched the pin. Returns null when no pin is
 * given and nothing was saved.
 */
export async function openPinnedTrust(o: PinnedTrustOptions): Promise<OpenedTrust | null> {
  const savedPin = await readPinFile(o.dir);
  const started = await startPinnedTrust({
    store: new TrustStateStore(o.dir),
    where: o.dir,
    savedPin,
    pin: o.pin,
    fetcher: o.fetcher,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.graceSeconds === undefined ? {} : { graceSeconds: o.graceSeconds }),
  });
  if (!started) return null;
  if (savedPin === null && started.anchor !== null && started.bootstrapped) {
    await fsp.mkdir(o.dir, { recursive: true, mode: 0o700 });
    await fsp.writeFile(path.join(o.dir, PIN_FILE), `${started.anchor}\n`, { mode: 0o600 });
  }
  return { client: started.client, root: started.root, pin: savedPin ?? started.anchor };
}
