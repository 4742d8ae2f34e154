/**
 * Operator-side trust changes, each one new root version N+1 signed by the
 * offline root keys and published to the store:
 *
 *   rotateOnlineKey   new catalog/admission key; old keys overlap, are
 *                     revoked at once (leaked) or dropped (lost)
 *   retireOnlineKeys  drop keys whose overlap has ended (or end it now)
 *   rotateRootKeys    new root key set (signed by a threshold of the old set
 *                     AND of the new set), also how a lost share is replaced
 *   refreshRoot       same keys, new expiry (roots expire; re-sign yearly)
 *
 * Every change goes through buildRoot (client rules), signRoot, a local
 * verifyNextRoot and publishRoot (which verifies again under a lock). New
 * online key files are written before publication (a running process that
 * sees the new root finds its key) and removed again if publication fails;
 * files of keys the new root no longer lists are deleted after it.
 */
import { rm, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurably } from '../../io/durable-file.js';
import { generateSigningKey, keyIdOf, type Envelope, type SigningKey } from '../../core/envelope.js';
import { DammError } from '../../core/errors.js';
import {
  buildRoot,
  MAX_ROLE_KEYS,
  rootToInput,
  signRoot,
  verifyNextRoot,
  type BuildRootInput,
  type OnlineKeyInput,
  type OnlineRole,
  type RootDocument,
  type VerifiedRoot,
} from '../../core/trust/index.js';
import type { Db } from '../../store/db.js';
import { keysDir, readOnlineKeyFiles, writeOnlineKey } from '../keyring.js';
import { DAY, DEFAULT_KEY_VALIDITY_SECONDS, DEFAULT_ROOT_VALIDITY_SECONDS } from './init.js';
import { loadVerifiedChain, publishRoot } from './roots.js';

export const DEFAULT_OVERLAP_SECONDS = 7 * DAY;

export interface TrustChangeBase {
  db: Db;
  dataDir: string;
  now: Date;
  /** Root keys to sign with: at least a threshold of the current root's root keys. */
  rootKeys: SigningKey[];
  rootValiditySeconds?: number;
  actor?: string;
  /** Where to keep a copy of the signed root (best effort), e.g. next to the offline root keys. */
  saveRootTo?: string;
}

export interface TrustChangeResult {
  previousVersion: number;
  root: VerifiedRoot;
  envelope: Envelope;
  /** Online keys the new root no longer lists. */
  dropped: { role: OnlineRole; keyid: string; reason: string }[];
  /** Online keys whose window was shortened to end the overlap. */
  shortened: { role: OnlineRole; keyid: string; notAfter: string }[];
  newKey: { role: OnlineRole; keyid: string; file: string; notBefore: string; notAfter: string } | null;
  removedKeyFiles: string[];
  savedRootFile: string | null;
  notes: string[];
}

async function currentRoot(db: Db): Promise<VerifiedRoot> {
  const root = await loadVerifiedChain(db);
  if (!root) throw new DammError('config_invalid', 'No root is published in this store yet: run "damm init" first.');
  return root;
}

/** The given keys that are root keys of `doc`, and whether they reach its threshold. */
function rootSigners(doc: Readonly<RootDocument>, keys: SigningKey[]): SigningKey[] {
  const ids = new Set(doc.roles.root.keyids);
  const seen = new Set<string>();
  return keys.filter((k) => ids.has(k.keyid) && !seen.has(k.keyid) && seen.add(k.keyid));
}

function checkRootThreshold(current: VerifiedRoot, keys: SigningKey[]): void {
  const ids = new Set(current.document.roles.root.keyids);
  for (const k of keys) {
    if (!ids.has(k.keyid)) {
      throw new DammError('invalid_argument', `Root key ${k.keyid.slice(0, 16)} is not a root key of root v${current.version} (it lists ${current.document.roles.root.keyids.map((x) => x.slice(0, 16)).join(', ')}).`);
    }
  }
  const have = rootSigners(current.document, keys).length;
  const need = current.document.roles.root.threshold;
  if (have < need) {
    throw new DammError('invalid_argument', `Root v${current.version} needs ${need} root key(s) to sign its successor; ${have} given (pass more --root-key files).`);
  }
}

function rootExpiry(opts: TrustChangeBase): Date {
  const s = opts.rootValiditySeconds ?? DEFAULT_ROOT_VALIDITY_SECONDS;
  if (!(s >= 3600)) throw new DammError('invalid_argument', 'The root must be valid for at least an hour.');
  return new Date(opts.now.getTime() + s * 1000);
}

async function signAndPublish(
  opts: TrustChangeBase,
  current: VerifiedRoot,
  input: BuildRootInput,
  signers: SigningKey[],
  before?: () => Promise<() => Promise<void>>,
): Promise<{ root: VerifiedRoot; envelope: Envelope; savedRootFile: string | null }> {
  const doc = buildRoot(input);
  const envelope = signRoot(doc, signers);
  verifyNextRoot(current, envelope); // exactly what every client will check
  const undo = before ? await before() : async () => {};
  let root: VerifiedRoot;
  try {
    root = await publishRoot(opts.db, envelope, { actor: opts.actor ?? 'damm-keys', now: opts.now, expectVersion: current.version + 1 });
  } catch (err) {
    await undo();
    throw err;
  }
  let savedRootFile: string | null = null;
  if (opts.saveRootTo) {
    try {
      await mkdir(opts.saveRootTo, { recursive: true, mode: 0o700 });
      savedRootFile = path.join(opts.saveRootTo, `root-${root.version}.json`);
      await writeFileDurably(savedRootFile, `${JSON.stringify(envelope)}\n`, { mode: 0o644 });
    } catch {
      savedRootFile = null;
    }
  }
  return { root, envelope, savedRootFile };
}

function idOf(k: OnlineKeyInput): string {
  return keyIdOf(k.publicKey);
}

function nextInput(current: VerifiedRoot, opts: TrustChangeBase): BuildRootInput {
  return { ...rootToInput(current.document as RootDocument), version: current.version + 1, issuedAt: opts.now, expiresAt: rootExpiry(opts) };
}

export interface RotateOnlineOptions extends TrustChangeBase {
  role: OnlineRole;
  /**
   * overlap:      old keys keep counting until now + overlap (default 7 days)
   * revoke-old:   old keys are removed now (a leaked key)
   * replace-lost: keys whose file is missing here are removed now (or kept
   *               until now + overlap when overlapSeconds is given: what they
   *               signed stays valid); keys still present overlap as usual
   */
  mode: 'overlap' | 'revoke-old' | 'replace-lost';
  overlapSeconds?: number;
  keyValiditySeconds?: number;
}

export async function rotateOnlineKey(opts: RotateOnlineOptions): Promise<TrustChangeResult> {
  const { role, now } = opts;
  const current = await currentRoot(opts.db);
  checkRootThreshold(current, opts.rootKeys);
  const overlapGiven = opts.overlapSeconds !== undefined;
  const overlap = opts.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS;
  if (!(overlap >= 0)) throw new DammError('invalid_argument', '--overlap must not be negative.');
  const validity = opts.keyValiditySeconds ?? DEFAULT_KEY_VALIDITY_SECONDS;
  if (!(validity >= 3600)) throw new DammError('invalid_argument', 'An online key must be valid for at least an hour.');

  const localIds = new Set((await readOnlineKeyFiles(opts.dataDir)).map((f) => f.key.keyid));
  const input = nextInput(current, opts);
  const dropped: TrustChangeResult['dropped'] = [];
  const shortened: TrustChangeResult['shortened'] = [];
  const notes: string[] = [];
  const overlapEnd = new Date(now.getTime() + overlap * 1000);
  const live = input[role].keys.filter((k) => {
    if (k.notAfter.getTime() <= now.getTime()) {
      dropped.push({ role, keyid: idOf(k), reason: 'expired' });
      return false;
    }
    return true;
  });
  const missing = live.filter((k) => !localIds.has(idOf(k)));

  if (opts.mode === 'overlap' && missing.length > 0) {
    throw new DammError(
      'invalid_argument',
      `The ${role} key ${missing.map((k) => idOf(k).slice(0, 16)).join(', ')} has no key file in ${keysDir(opts.dataDir)}. ` +
        'If it is lost, add --replace-lost; if it may have been stolen, add --revoke-old; if this is the wrong --data-dir, use the right one.',
    );
  }
  if (opts.mode === 'replace-lost' && missing.length === 0) {
    throw new DammError('invalid_argument', `No ${role} key is lost: every key root v${current.version} lists has its file in ${keysDir(opts.dataDir)}. Use a plain rotation, or --revoke-old for a leaked key.`);
  }

  const kept: OnlineKeyInput[] = [];
  for (const k of live) {
    const id = idOf(k);
    const lost = !localIds.has(id);
    if (opts.mode === 'revoke-old') {
      dropped.push({ role, keyid: id, reason: 'revoked' });
    } else if (lost && !overlapGiven) {
      dropped.push({ role, keyid: id, reason: 'lost' });
    } else {
      const end = k.notAfter.getTime() < overlapEnd.getTime() ? k.notAfter : overlapEnd;
      if (end.getTime() <= now.getTime()) {
        dropped.push({ role, keyid: id, reason: lost ? 'lost' : 'no overlap' });
        continue;
      }
      if (end.getTime() !== k.notAfter.getTime()) shortened.push({ role, keyid: id, notAfter: end.toISOString() });
      kept.push({ ...k, notAfter: end });
      if (lost) notes.push(`lost key ${id.slice(0, 16)} stays certified until ${end.toISOString()} so what it signed stays valid; nothing can sign with it`);
    }
  }
  const newKey = generateSigningKey();
  const window = { notBefore: now, notAfter: new Date(now.getTime() + validity * 1000) };
  const keys = [...kept, { publicKey: newKey.publicKey, ...window }];
  if (keys.length > MAX_ROLE_KEYS) {
    throw new DammError('invalid_argument', `Role ${role} would list ${keys.length} keys (at most ${MAX_ROLE_KEYS}); run "damm keys retire --role ${role}" first.`);
  }
  input[role] = { keys, threshold: Math.min(input[role].threshold, keys.length) };

  let newFile = '';
  const { root, envelope, savedRootFile } = await signAndPublish(opts, current, input, rootSigners(current.document, opts.rootKeys), async () => {
    newFile = await writeOnlineKey(opts.dataDir, role, newKey, now);
    return () => rm(newFile, { force: true });
  });
  const removedKeyFiles = await removeDroppedKeyFiles(opts.dataDir, current, root);
  return {
    previousVersion: current.version,
    root,
    envelope,
    dropped,
    shortened,
    newKey: { role, keyid: newKey.keyid, file: newFile, notBefore: window.notBefore.toISOString(), notAfter: window.notAfter.toISOString() },
    removedKeyFiles,
    savedRootFile,
    notes,
  };
}

export interface RetireOptions extends TrustChangeBase {
  role: OnlineRole;
  /** End the overlap now: keep only the newest key of the role. */
  endOverlapNow?: boolean;
}

export async function retireOnlineKeys(opts: RetireOptions): Promise<TrustChangeResult> {
  const { role, now } = opts;
  const current = await currentRoot(opts.db);
  checkRootThreshold(current, opts.rootKeys);
  const localIds = new Set((await readOnlineKeyFiles(opts.dataDir)).map((f) => f.key.keyid));
  const input = nextInput(current, opts);
  const keys = input[role].keys;
  const newest = [...keys].sort((a, b) => b.notBefore.getTime() - a.notBefore.getTime())[0]!;
  const dropped: TrustChangeResult['dropped'] = [];
  const kept = keys.filter((k) => {
    if (k.notAfter.getTime() <= now.getTime()) {
      dropped.push({ role, keyid: idOf(k), reason: 'expired' });
      return false;
    }
    if (opts.endOverlapNow && k !== newest) {
      dropped.push({ role, keyid: idOf(k), reason: 'overlap ended early' });
      return false;
    }
    return true;
  });
  if (dropped.length === 0) {
    const ends = keys.filter((k) => k !== newest).map((k) => `${idOf(k).slice(0, 16)} until ${k.notAfter.toISOString()}`);
    throw new DammError('invalid_argument', `Nothing to retire for ${role}${ends.length ? `: ${ends.join(', ')} still overlap (add --now to end the overlap early)` : ': it has a single key'}.`);
  }
  if (!kept.some((k) => localIds.has(idOf(k)) && k.notBefore.getTime() <= now.getTime() + 300_000)) {
    throw new DammError('invalid_argument', `Retiring would leave no ${role} key that this host can sign with; rotate first.`);
  }
  input[role] = { keys: kept, threshold: Math.min(input[role].threshold, kept.length) };
  const { root, envelope, savedRootFile } = await signAndPublish(opts, current, input, rootSigners(current.document, opts.rootKeys));
  const removedKeyFiles = await removeDroppedKeyFiles(opts.dataDir, current, root);
  return { previousVersion: current.version, root, envelope, dropped, shortened: [], newKey: null, removedKeyFiles, savedRootFile, notes: [] };
}

export interface RootRotateOptions extends TrustChangeBase {
  /** The complete new root key set (may include some old keys). */
  newRootKeys: SigningKey[];
  threshold: number;
}

export async function rotateRootKeys(opts: RootRotateOptions): Promise<TrustChangeResult> {
  const current = await currentRoot(opts.db);
  checkRootThreshold(current, opts.rootKeys);
  const seen = new Set<string>();
  const fresh = opts.newRootKeys.filter((k) => !seen.has(k.keyid) && seen.add(k.keyid));
  if (fresh.length < 1) throw new DammError('invalid_argument', 'The new root key set is empty.');
  if (!Number.isInteger(opts.threshold) || opts.threshold < 1 || opts.threshold > fresh.length) {
    throw new DammError('invalid_argument', `--threshold must be a whole number from 1 to ${fresh.length} (the number of new root keys).`);
  }
  const input = nextInput(current, opts);
  input.root = { keys: fresh.map((k) => k.publicKey), threshold: opts.threshold };
  // Old threshold (the keys clients trust now) AND new threshold (proof the new holders have their keys).
  const signers = [...rootSigners(current.document, opts.rootKeys), ...fresh];
  const { root, envelope, savedRootFile } = await signAndPublish(opts, current, input, signers);
  return { previousVersion: current.version, root, envelope, dropped: [], shortened: [], newKey: null, removedKeyFiles: [], savedRootFile, notes: [] };
}

/** Same root keys and online keys, a new version with a fresh expiry. */
export async function refreshRoot(opts: TrustChangeBase): Promise<TrustChangeResult> {
  const current = await currentRoot(opts.db);
  checkRootThreshold(current, opts.rootKeys);
  const input = nextInput(current, opts);
  const { root, envelope, savedRootFile } = await signAndPublish(opts, current, input, rootSigners(current.document, opts.rootKeys));
  return { previousVersion: current.version, root, envelope, dropped: [], shortened: [], newKey: null, removedKeyFiles: [], savedRootFile, notes: [] };
}

/** Deletes the files of online keys the previous root listed and the new one dropped (they can never sign again). */
async function removeDroppedKeyFiles(dataDir: string, previous: VerifiedRoot, root: VerifiedRoot): Promise<string[]> {
  const listed = new Set(Object.keys(root.document.keys));
  const before = new Set(Object.keys(previous.document.keys));
  const removed: string[] = [];
  for (const f of await readOnlineKeyFiles(dataDir)) {
    if (listed.has(f.key.keyid) || !before.has(f.key.keyid)) continue;
    const file = path.join(keysDir(dataDir), f.name);
    await rm(file, { force: true });
    removed.push(file);
  }
  return removed;
}
