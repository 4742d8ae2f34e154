/**
 * The control plane's online signing keys (catalog, admission), kept as
 * files of mode 0600 under <dataDir>/keys. They are created by `damm init`
 * (or `damm keys rotate`) and never leave the host except inside an
 * encrypted backup.
 *
 * A key file alone grants nothing: the running service signs only with keys
 * that the latest published root certifies and that are inside their
 * validity window now (src/control-plane/trust/keyring.ts, TrustedKeyRing).
 * `loadKeyRing`/`staticKeyRing` remain for callers that inject fixed keys.
 */
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurably } from '../io/durable-file.js';
import { keysDir } from '../io/data-dir.js';
import { DammError } from '../core/errors.js';
import { generateSigningKey, signingKeyFromSeed, type SigningKey } from '../core/envelope.js';
import { fromBase64, toBase64 } from '../core/bytes.js';

export type OnlineRole = 'catalog' | 'admission';

/** What changed when the ring picked up a new published root. */
export interface KeyRingChange {
  changed: boolean;
  version: number;
  rotatedRoles: OnlineRole[];
  /** Keys this process signed with before the change and may not sign with any more (revoked, lost, retired). */
  droppedSigners: { role: OnlineRole; keyid: string }[];
}

/**
 * Called after a change of root. The place for work a rotation implies
 * beyond the catalog, e.g. the admission feed re-issuing live records at
 * once when an admission key it used was dropped (revoked or lost), rather
 * than on its renewal schedule.
 */
export type KeyRingListener = (change: KeyRingChange) => void | Promise<void>;

export interface KeyRing {
  signers(role: OnlineRole): SigningKey[];
  publicKeys(role: OnlineRole): { keyid: string; publicKey: string }[];
  /** Subscribes to changes of the signing keys; returns the unsubscribe function. */
  onChange(listener: KeyRingListener): () => void;
}

interface KeyFile {
  role: OnlineRole;
  seed: string;
  createdAt: string;
}

export { keysDir };

export function onlineKeyFileName(role: OnlineRole, keyid: string): string {
  return `${role}-${keyid.slice(0, 16)}.key`;
}

export interface OnlineKeyFile {
  /** File name inside keysDir(dataDir). */
  name: string;
  role: OnlineRole;
  key: SigningKey;
  createdAt: string;
}

/** Every online key file in <dataDir>/keys, parsed (a damaged file is an error, never skipped). */
export async function readOnlineKeyFiles(dataDir: string): Promise<OnlineKeyFile[]> {
  const dir = keysDir(dataDir);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.key')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: OnlineKeyFile[] = [];
  for (const f of names) {
    let parsed: KeyFile;
    try {
      parsed = JSON.parse(await readFile(path.join(dir, f), 'utf8')) as KeyFile;
    } catch (cause) {
      throw new DammError('config_invalid', `Key file ${f} is unreadable.`, { cause });
    }
    const seed = typeof parsed?.seed === 'string' ? fromBase64(parsed.seed) : null;
    if (!seed || seed.length !== 32 || (parsed.role !== 'catalog' && parsed.role !== 'admission')) {
      throw new DammError('config_invalid', `Key file ${f} is not a DAMM online key.`);
    }
    out.push({ name: f, role: parsed.role, key: signingKeyFromSeed(seed), createdAt: String(parsed.createdAt ?? '') });
  }
  return out;
}

export async function writeKeyFileAtomic(file: string, body: string): Promise<void> {
  await writeFileDurably(file, body);
}

export async function createOnlineKey(dataDir: string, role: OnlineRole, now: Date): Promise<SigningKey> {
  const key = generateSigningKey();
  await writeOnlineKey(dataDir, role, key, now);
  return key;
}

/** Writes one online key file (mode 0600, fsynced, atomic rename); returns its path. */
export async function writeOnlineKey(dataDir: string, role: OnlineRole, key: SigningKey, now: Date): Promise<string> {
  const dir = keysDir(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const body: KeyFile = { role, seed: toBase64(key.privateKey), createdAt: now.toISOString() };
  const file = path.join(dir, onlineKeyFileName(role, key.keyid));
  await writeKeyFileAtomic(file, JSON.stringify(body));
  return file;
}

export async function loadKeyRing(dataDir: string, opts: { create: boolean; now: Date }): Promise<KeyRing> {
  const dir = keysDir(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const byRole: Record<OnlineRole, SigningKey[]> = { catalog: [], admission: [] };
  for (const f of await readOnlineKeyFiles(dataDir)) byRole[f.role].push(f.key);
  for (const role of ['catalog', 'admission'] as const) {
    if (byRole[role].length === 0) {
      if (!opts.create) throw new DammError('config_invalid', `No ${role} signing key in ${dir}; run "damm init".`);
      byRole[role].push(await createOnlineKey(dataDir, role, opts.now));
    }
  }
  return staticKeyRing(byRole);
}

export function staticKeyRing(byRole: Record<OnlineRole, SigningKey[]>): KeyRing {
  return {
    signers: (role) => byRole[role],
    publicKeys: (role) => byRole[role].map((k) => ({ keyid: k.keyid, publicKey: toBase64(k.publicKey) })),
    // Fixed keys never change.
    onChange: () => () => {},
  };
}
