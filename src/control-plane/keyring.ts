/**
 * The control plane's online signing keys (catalog, admission), kept as
 * files of mode 0600 under <dataDir>/keys. They are created on first start
 * and never leave the host except inside an encrypted backup.
 */
import { mkdir, readdir, readFile, writeFile, rename, open } from 'node:fs/promises';
import path from 'node:path';
import { DammError } from '../core/errors.js';
import { generateSigningKey, signingKeyFromSeed, type SigningKey } from '../core/envelope.js';
import { fromBase64, toBase64 } from '../core/bytes.js';

export type OnlineRole = 'catalog' | 'admission';

export interface KeyRing {
  signers(role: OnlineRole): SigningKey[];
  publicKeys(role: OnlineRole): { keyid: string; publicKey: string }[];
}

interface KeyFile {
  role: OnlineRole;
  seed: string;
  createdAt: string;
}

export function keysDir(dataDir: string): string {
  return path.join(dataDir, 'keys');
}

export async function writeKeyFileAtomic(file: string, body: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(body);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

export async function createOnlineKey(dataDir: string, role: OnlineRole, now: Date): Promise<SigningKey> {
  const dir = keysDir(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const key = generateSigningKey();
  const body: KeyFile = { role, seed: toBase64(key.privateKey), createdAt: now.toISOString() };
  await writeKeyFileAtomic(path.join(dir, `${role}-${key.keyid.slice(0, 16)}.key`), JSON.stringify(body));
  return key;
}

export async function loadKeyRing(dataDir: string, opts: { create: boolean; now: Date }): Promise<KeyRing> {
  const dir = keysDir(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const byRole: Record<OnlineRole, SigningKey[]> = { catalog: [], admission: [] };
  for (const f of (await readdir(dir)).filter((n) => n.endsWith('.key')).sort()) {
    let parsed: KeyFile;
    try {
      parsed = JSON.parse(await readFile(path.join(dir, f), 'utf8')) as KeyFile;
    } catch (cause) {
      throw new DammError('config_invalid', `Key file ${f} is unreadable.`, { cause });
    }
    const seed = fromBase64(parsed.seed);
    if (!seed || seed.length !== 32 || (parsed.role !== 'catalog' && parsed.role !== 'admission')) {
      throw new DammError('config_invalid', `Key file ${f} is not a DAMM online key.`);
    }
    byRole[parsed.role].push(signingKeyFromSeed(seed));
  }
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
  };
}
