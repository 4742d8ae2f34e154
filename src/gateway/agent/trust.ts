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
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import { DammError, isDammError } from '../../core/errors.js';
import { admissionTrustFrom, type GatewayTrust } from '../../core/admission.js';
import type { VerifiedRoot } from '../../core/trust/index.js';
import { isPinMismatch, openPinnedTrust, type RootPin, type TrustClient } from '../../client/trust-state.js';

export type { RootPin } from '../../client/trust-state.js';
export const TRUST_SUBDIR = 'trust';

export interface PinnedTrustOptions {
  /** `<stateDir>/trust`. */
  dir: string;
  pin: RootPin;
  /** GET /v1/trust/root/{n}.json: the envelope, or null past the end of the chain. */
  fetchRoot(version: number): Promise<unknown | null>;
  clock: Clock;
  log: Logger;
}

/** Admission keys and threshold to verify with at one instant (core's admissionTrustFrom). */
export type AdmissionTrust = Pick<GatewayTrust, 'trustedKeys' | 'threshold' | 'retiredKeys'>;

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
    let opened;
    try {
      opened = await openPinnedTrust({
        dir: o.dir,
        pin: o.pin,
        fetcher: {
          fetchRoot: (n) => o.fetchRoot(n),
          fetchCatalog: () => Promise.reject(new Error('the gateway agent does not read the catalog')),
        },
        clock: () => o.clock.now(),
      });
    } catch (err) {
      if (!isDammError(err)) throw err;
      const reason = (err.details as { reason?: string } | undefined)?.reason;
      const say =
        reason === 'pin_mismatch' && err.message.startsWith('Root does not match')
          ? `Root v1 served by the control plane does not match the pin ${o.pin.sha256 ?? ''}: refusing to start (wrong pin, or not the control plane you think).`
          : reason === 'pin_mismatch'
            ? `${err.message}: refusing to start. Use the root file and pin this gateway was set up with, or (re-bootstrap after a root-key loss, docs/runbooks.md) remove ${o.dir}.`
            : reason === 'root_unavailable'
              ? `${err.message}: refusing to start. Start again when the control plane answers, or pass --root-file (from "damm keys export-root 1").`
              : `The root of trust is not usable (${errText(err)}): refusing to start.`;
      throw new DammError(err.code === 'invalid_argument' ? 'invalid_argument' : 'trust_invalid', say, { details: { reason: isPinMismatch(err) ? 'pin_mismatch' : (reason ?? 'root_invalid') }, cause: err });
    }
    if (!opened) return null;
    const trust = new PinnedTrust(opened.client, opened.root, o, opened.pin);
    await trust.update('start');
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
    if (now.getTime() >= root.expiresAt.getTime()) {
      if (!this.#expiredLogged) {
        this.#expiredLogged = true;
        this.o.log.error({ rootVersion: root.version, expiresAt: root.document.expiresAt }, 'the trusted root has expired: no admission record is accepted until a newer root is published ("damm keys refresh")');
      }
    } else {
      this.#expiredLogged = false;
    }
    // The same function the adversarial suite attacks: keys valid now, none once the root expired.
    return admissionTrustFrom(root, now);
  }

  private keyIdsNow(): string[] {
    return this.admissionAt(this.o.clock.now()).trustedKeys.map((k) => k.keyid.slice(0, 16));
  }
}
