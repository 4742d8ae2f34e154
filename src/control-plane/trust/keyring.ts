/**
 * The root-aware key ring: the service signs with exactly the online keys
 * that (a) it holds as files under <dataDir>/keys and (b) the latest
 * published root certifies for that role and (c) are inside their validity
 * window now. During a rotation overlap that is both the old and the new key;
 * after the overlap only the new one; a key the root dropped (lost, leaked,
 * retired) never signs again even if its file is still there.
 *
 * `reload()` picks up a newly published root (and the key files that came
 * with it) without a restart; the control plane calls it on a short interval
 * (see startTrustMaintenance in ./maintenance.ts).
 */
import { toBase64 } from '../../core/bytes.js';
import type { Clock } from '../../core/clock.js';
import type { SigningKey } from '../../core/envelope.js';
import { DammError } from '../../core/errors.js';
import { keyValidFor, roleKeys, rotatedRoles, ONLINE_ROLES, type OnlineRole, type VerifiedRoot } from '../../core/trust/index.js';
import type { Queryable } from '../../store/db.js';
import { keysDir, readOnlineKeyFiles, type KeyRing, type KeyRingChange, type KeyRingListener } from '../keyring.js';
import { latestRootVersion, listRoots, loadVerifiedChain, verifyPublishedChain } from './roots.js';

/** What reload() found (a change of root is also told to the ring's listeners). */
export type ReloadResult = KeyRingChange;

export interface TrustedKeyRingOptions {
  db: Queryable;
  dataDir: string;
  clock: Clock;
}

export class TrustedKeyRing implements KeyRing {
  readonly #opts: TrustedKeyRingOptions;
  #root: VerifiedRoot;
  #local: Map<string, SigningKey>;
  readonly #listeners = new Set<KeyRingListener>();

  private constructor(opts: TrustedKeyRingOptions, root: VerifiedRoot, local: Map<string, SigningKey>) {
    this.#opts = opts;
    this.#root = root;
    this.#local = local;
  }

  /** Loads and verifies the published chain and the local key files; refuses when a role has no usable key. */
  static async load(opts: TrustedKeyRingOptions): Promise<TrustedKeyRing> {
    const root = await loadVerifiedChain(opts.db);
    if (!root) {
      throw new DammError('config_invalid', 'No trust root is published in this store: run "damm init" first (it creates the offline root and root v1).');
    }
    const ring = new TrustedKeyRing(opts, root, await localKeys(opts.dataDir));
    ring.assertUsable();
    return ring;
  }

  get root(): VerifiedRoot {
    return this.#root;
  }

  /** Throws unless every online role has, at this moment, a threshold of certified keys this process holds. */
  assertUsable(now: Date = this.#opts.clock.now()): void {
    for (const role of ONLINE_ROLES) {
      const have = this.#signersAt(role, now).length;
      const need = this.#root.document.roles[role].threshold;
      if (have >= need) continue;
      const listed = roleKeys(this.#root, role)
        .map((k) => `${k.keyid.slice(0, 16)} (${k.notBefore?.toISOString()} .. ${k.notAfter?.toISOString()}${this.#local.has(k.keyid) ? '' : ', no key file here'})`)
        .join('; ');
      throw new DammError(
        'config_invalid',
        `No ${role} key in ${keysDir(this.#opts.dataDir)} is certified by root v${this.#root.version} and valid now (${now.toISOString()}); ` +
          `the root lists: ${listed}. If the key file was lost: "damm keys rotate --role ${role} --root-key <file> --replace-lost"; ` +
          'if this is a second control-plane host, copy <dataDir>/keys from the first (see docs/runbooks.md).',
      );
    }
  }

  #signersAt(role: OnlineRole, now: Date): SigningKey[] {
    const out: SigningKey[] = [];
    for (const k of roleKeys(this.#root, role)) {
      if (!keyValidFor(k, now)) continue;
      const local = this.#local.get(k.keyid);
      if (local) out.push(local);
    }
    return out;
  }

  signers(role: OnlineRole): SigningKey[] {
    return this.#signersAt(role, this.#opts.clock.now());
  }

  /** The keys the latest root certifies for the role and that are valid now (whether or not this host holds them). */
  publicKeys(role: OnlineRole): { keyid: string; publicKey: string }[] {
    const now = this.#opts.clock.now();
    return roleKeys(this.#root, role)
      .filter((k) => keyValidFor(k, now))
      .map((k) => ({ keyid: k.keyid, publicKey: toBase64(k.publicKey) }));
  }

  /** Subscribes to root changes picked up by reload(); returns the unsubscribe function. */
  onChange(listener: KeyRingListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Runs every listener (each isolated: one failing does not stop the others); returns their errors. */
  async emitChange(change: ReloadResult): Promise<unknown[]> {
    const errors: unknown[] = [];
    for (const l of this.#listeners) {
      try {
        await l(change);
      } catch (err) {
        errors.push(err);
      }
    }
    return errors;
  }

  /**
   * Picks up roots published since the last load (verified step by step from
   * the one held, as a client would) and re-reads the key files. A bad or
   * rolled-back chain in the store is an error and leaves the ring unchanged.
   */
  async reload(opts: { force?: boolean } = {}): Promise<ReloadResult> {
    const latest = await latestRootVersion(this.#opts.db);
    const held = this.#root;
    if (latest < held.version) {
      throw new DammError('trust_invalid', `The store's latest root is v${latest}, older than v${held.version} this process already trusts (store restored from an old backup?); keeping v${held.version}.`);
    }
    if (latest === held.version && !opts.force) return { changed: false, version: held.version, rotatedRoles: [], droppedSigners: [] };
    const next = latest === held.version ? held : verifyPublishedChain(await listRoots(this.#opts.db, { after: held.version }), { from: held });
    const local = await localKeys(this.#opts.dataDir);
    const rotated = next === held ? [] : rotatedRoles(held, next);
    const now = this.#opts.clock.now();
    const before = ONLINE_ROLES.flatMap((role) => this.#signersAt(role, now).map((k) => ({ role, keyid: k.keyid })));
    this.#root = next;
    this.#local = local;
    const after = new Set(ONLINE_ROLES.flatMap((role) => this.#signersAt(role, now).map((k) => `${role}:${k.keyid}`)));
    const droppedSigners = before.filter((k) => !after.has(`${k.role}:${k.keyid}`));
    return { changed: next !== held, version: next.version, rotatedRoles: rotated, droppedSigners };
  }

  /** What `damm keys status` and logs report. */
  describe(now: Date = this.#opts.clock.now()) {
    return {
      rootVersion: this.#root.version,
      rootExpiresAt: this.#root.document.expiresAt,
      roles: Object.fromEntries(
        ONLINE_ROLES.map((role) => [
          role,
          roleKeys(this.#root, role).map((k) => ({
            keyid: k.keyid,
            notBefore: k.notBefore?.toISOString(),
            notAfter: k.notAfter?.toISOString(),
            validNow: keyValidFor(k, now),
            local: this.#local.has(k.keyid),
          })),
        ]),
      ),
    };
  }
}

async function localKeys(dataDir: string): Promise<Map<string, SigningKey>> {
  const m = new Map<string, SigningKey>();
  for (const f of await readOnlineKeyFiles(dataDir)) m.set(f.key.keyid, f.key);
  return m;
}
