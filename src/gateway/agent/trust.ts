/**
 * The agent's root of trust (docs/trust.md, "Pinning in clients").
 *
 * With a pin (`--root-sha256`, `DAMM_ROOT_SHA256`, or `--root-file` holding
 * the envelope `damm keys export-root 1` writes) the agent trusts the offline
 * root, not the online admission keys: a TrustClient keeps the latest
 * verified root in `<stateDir>/trust/trust-state.json`, walks root N+1, N+2,
 * ... at start, every minute, and once more before giving up on a record
 * refused for its signature. Records are checked against the admission keys
 * of that root that are valid at the moment of verification, with its
 * threshold. Rotating or revoking an admission key is then a root update,
 * never a re-registration.
 *
 * `root-v1.sha256` next to the state file records the pin the directory was
 * started from: a later start with another pin is refused, and a later start
 * with no pin keeps using the saved state (a pin cannot be dropped by
 * forgetting a flag).
 *
 * Root fetches go through the agent's own control-plane client (api.ts), so
 * they share its timeouts, its "unreachable" classification and its
 * connections, which close for certain when the agent stops.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64, toHex } from '../../core/bytes.js';
import type { Clock } from '../../core/clock.js';
import type { TrustedKey } from '../../core/envelope.js';
import { DammError, isDammError } from '../../core/errors.js';
import { keyValidFor, roleKeys, roleThreshold, type VerifiedRoot } from '../../core/trust/index.js';
import { TrustClient, TrustStateStore } from '../../client/trust-state.js';

export const TRUST_SUBDIR = 'trust';
export const PIN_FILE = 'root-v1.sha256';
const HEX64 = /^[0-9a-f]{64}$/;

export interface RootPin {
  /** sha256 (hex) of root v1's payload, as `damm init` and `damm keys status` print it. */
  sha256?: string;
  /** A root envelope delivered out of band (`damm keys export-root 1`); trusted as given (and must match `sha256` when both are set). */
  rootEnvelope?: unknown;
}

export interface PinnedTrustOptions {
  /** `<stateDir>/trust`. */
  dir: string;
  pin: RootPin;
  /** GET /v1/trust/root/{n}.json: the envelope, or null past the end of the chain. */
  fetchRoot(version: number): Promise<unknown | null>;
  clock: Clock;
  log: Logger;
}

/** Admission keys and threshold to verify with at one instant. */
export interface AdmissionTrust {
  trustedKeys: TrustedKey[];
  threshold: number;
}

export function checkRootSha256(value: string, from: string): string {
  const t = value.trim().toLowerCase();
  if (!HEX64.test(t)) throw new DammError('invalid_argument', `${from} must be the 64-hex-digit sha256 of root v1 ("damm init" and "damm keys status" print it), got "${value.slice(0, 80)}".`);
  return t;
}

function payloadSha256(envelope: unknown): string {
  const p = (envelope as { payload?: unknown } | null)?.payload;
  const bytes = typeof p === 'string' ? fromBase64(p) : null;
  if (!bytes) throw new DammError('trust_invalid', 'The root file is not a root envelope (no base64 payload).', { details: { reason: 'root_file_invalid' } });
  return toHex(sha256(bytes));
}

async function readPinFile(dir: string): Promise<string | null> {
  try {
    return (await readFile(path.join(dir, PIN_FILE), 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class PinnedTrust {
  #root: VerifiedRoot;
  #expiredLogged = false;

  private constructor(
    private readonly client: TrustClient,
    root: VerifiedRoot,
    private readonly o: PinnedTrustOptions,
    /** The pin this state directory was started from (null: an older state directory without the pin file). */
    readonly pin: string | null,
  ) {
    this.#root = root;
  }

  /**
   * The pinned trust of this state directory, or null when no pin is given and
   * none was ever saved (the agent then falls back to its registration keys).
   * A pin that does not match the root, or a saved state started from another
   * pin, is an error: the agent must not start.
   */
  static async open(o: PinnedTrustOptions): Promise<PinnedTrust | null> {
    const store = new TrustStateStore(o.dir);
    const saved = await store.load();
    const savedPin = await readPinFile(o.dir);
    let anchor = o.pin.sha256 === undefined ? undefined : checkRootSha256(o.pin.sha256, '--root-sha256');
    if (o.pin.rootEnvelope !== undefined) {
      const fileSha = payloadSha256(o.pin.rootEnvelope);
      if (anchor !== undefined && anchor !== fileSha) {
        throw new DammError('trust_invalid', `The root file's sha256 is ${fileSha}, not the pinned ${anchor}: refusing to start. Check which root file and pin the operator gave you.`, { details: { reason: 'pin_mismatch' } });
      }
      anchor = fileSha;
    }
    if (!saved && anchor === undefined) return null;
    if (saved && savedPin !== null && anchor !== undefined && savedPin !== anchor) {
      throw new DammError('trust_invalid', `${o.dir} trusts the root chain that starts at ${savedPin}, not the pin ${anchor}: refusing to start. Use the pin this gateway was set up with, or (re-bootstrap after a root-key loss, docs/runbooks.md) remove ${o.dir}.`, { details: { reason: 'pin_mismatch' } });
    }
    let bootstrap: unknown = o.pin.rootEnvelope;
    if (!saved && bootstrap === undefined) {
      try {
        bootstrap = await o.fetchRoot(1);
      } catch (err) {
        throw new DammError('trust_invalid', `Cannot fetch root v1 to check it against the pin (${errText(err)}): refusing to start. Start again when the control plane answers, or pass --root-file (from "damm keys export-root 1").`, { details: { reason: 'root_unavailable' } });
      }
      if (bootstrap === null) throw new DammError('trust_invalid', 'The control plane publishes no root v1 (GET /v1/trust/root/1.json is 404): refusing to start.', { details: { reason: 'root_unavailable' } });
    }
    const client = new TrustClient({
      store,
      fetcher: {
        fetchRoot: (n) => o.fetchRoot(n),
        fetchCatalog: () => Promise.reject(new Error('the gateway agent does not read the catalog')),
      },
      bootstrapRoot: bootstrap ?? null,
      ...(saved || anchor === undefined ? {} : { bootstrapSha256: anchor }),
      clock: () => o.clock.now(),
    });
    let root: VerifiedRoot;
    try {
      root = await client.currentRoot();
    } catch (err) {
      const pinMismatch = isDammError(err) && (err.details as { reason?: string } | undefined)?.reason === 'pin_mismatch';
      throw new DammError(
        'trust_invalid',
        pinMismatch
          ? `Root v1 served by the control plane does not match the pin ${anchor}: refusing to start (wrong pin, or not the control plane you think).`
          : `The root of trust is not usable (${errText(err)}): refusing to start.`,
        { details: { reason: pinMismatch ? 'pin_mismatch' : 'root_invalid' }, cause: err },
      );
    }
    const trust = new PinnedTrust(client, root, o, savedPin ?? anchor ?? null);
    await trust.update('start');
    if (savedPin === null && anchor !== undefined) await writeFile(path.join(o.dir, PIN_FILE), `${anchor}\n`, { mode: 0o600 });
    return trust;
  }

  get root(): VerifiedRoot {
    return this.#root;
  }

  /**
   * Walks the root chain. Never throws: a failure (control plane down, a bad
   * root N+1) is logged and the last verified root stays in force; verified
   * progress is kept. Returns whether the root changed.
   */
  async update(why: string): Promise<boolean> {
    const before = this.#root.version;
    try {
      const r = await this.client.updateRoot();
      this.#root = r.root;
      if (r.walked > 0) {
        this.o.log.info({ why, rootVersion: r.root.version, from: before, rotatedRoles: r.rotatedRoles, admissionKeys: this.keyIdsNow() }, 'root of trust updated');
      }
    } catch (err) {
      this.#root = await this.client.currentRoot().catch(() => this.#root);
      const level = isDammError(err) && err.code === 'trust_invalid' ? 'error' : 'warn';
      this.o.log[level]({ why, rootVersion: this.#root.version, err: errText(err) }, `root update failed; keeping root v${this.#root.version}`);
    }
    return this.#root.version !== before;
  }

  /** The admission keys of the verified root that are valid at `now`, with the root's threshold; none once the root has expired. */
  admissionAt(now: Date): AdmissionTrust {
    const root = this.#root;
    const threshold = roleThreshold(root, 'admission');
    if (now.getTime() >= root.expiresAt.getTime()) {
      if (!this.#expiredLogged) {
        this.#expiredLogged = true;
        this.o.log.error({ rootVersion: root.version, expiresAt: root.document.expiresAt }, 'the trusted root has expired: no admission record is accepted until a newer root is published ("damm keys refresh")');
      }
      return { trustedKeys: [], threshold };
    }
    this.#expiredLogged = false;
    return { trustedKeys: roleKeys(root, 'admission').filter((k) => keyValidFor(k, now)), threshold };
  }

  private keyIdsNow(): string[] {
    return this.admissionAt(this.o.clock.now()).trustedKeys.map((k) => k.keyid.slice(0, 16));
  }
}
